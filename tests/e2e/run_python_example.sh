#!/usr/bin/env bash
# End-to-end check of examples/python/client.py against the real server:
# starts trainyard-server on a free loopback port with a temporary data dir,
# runs the Python example on a small generated CSV (XOR quadrants, 2 classes),
# requires the job to succeed, the checkpoint to verify and the accuracy to be
# high enough, then stops the server with SIGTERM and requires exit status 0.
#
#   tests/e2e/run_python_example.sh path/to/trainyard-server
#
# Exit 77 (ctest: skipped) when Debian's python3-grpcio is not installed.
set -euo pipefail

SERVER_BIN=${1:?usage: $0 path/to/trainyard-server}
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
# Debian's interpreter: python3-grpcio and python3-protobuf live there, not in
# whatever python3 comes first on PATH (pyenv, venvs).
PYTHON=${PYTHON:-/usr/bin/python3}

if ! "$PYTHON" -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "SKIP: $PYTHON cannot import grpc/google.protobuf (apt-get install python3-grpcio python3-protobuf)"
  exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-e2e-python.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$WORK/server.log" ]; then
    echo "--- server log (tail) ---" >&2
    tail -n 40 "$WORK/server.log" >&2
  fi
  exit 1
}

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server; returns non-zero if it exits before saying it listens
# (e.g. the port was taken between free_port and bind).
start_server() {
  local port=$1
  ADDR="127.0.0.1:$port"
  "$SERVER_BIN" --listen "$ADDR" --data-dir "$WORK/data" --workers 1 \
      --heartbeat-seconds 1 --shutdown-grace-seconds 10 >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if grep -q "server_listening" "$WORK/server.log"; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" || true
      SERVER_PID=""
      return 1
    fi
    sleep 0.1
  done
  fail "server did not report server_listening within 30 s"
}

mkdir -p "$WORK/data"
started=0
for _ in 1 2 3; do
  if start_server "$(free_port)"; then started=1; break; fi
done
[ "$started" = 1 ] || fail "server exited at start-up three times"
echo "server pid $SERVER_PID on $ADDR"

# 800 points in [-1,1]^2, class 1 where x*y > 0: not linearly separable, so
# reaching the accuracy bar below needs the hidden layer to train.
"$PYTHON" - "$WORK/xor.csv" <<'EOF'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.write("x,y,label\n")
    for _ in range(800):
        x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
        f.write(f"{x:.5f},{y:.5f},{int(x * y > 0)}\n")
EOF
cat >"$WORK/model.json" <<'EOF'
{"input_dim": 2,
 "layers": [{"dense": {"units": 16}}, {"activation": {"kind": "TANH"}},
            {"dense": {"units": 16}}, {"activation": {"kind": "TANH"}},
            {"dense": {"units": 2}}]}
EOF
cat >"$WORK/training.json" <<'EOF'
{"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
 "optimizer": {"adam": {}, "learning_rate": 0.01},
 "batch_size": 32, "epochs": 60, "seed": 3,
 "validation_fraction": 0.1, "checkpoint_every_epochs": 20, "log_every_steps": 100,
 "diagnostics": {"every_steps": 300, "histograms": true}}
EOF

"$PYTHON" "$SRC_DIR/examples/python/client.py" --addr "$ADDR" \
    --csv "$WORK/xor.csv" --header --label-column label \
    --model "$WORK/model.json" --training "$WORK/training.json" \
    --out "$WORK/model.ckpt" --min-accuracy 0.9 | tee "$WORK/client.log" \
  || fail "python example failed"

[ -s "$WORK/model.ckpt" ] || fail "no checkpoint file written"
grep -q -- '-> RUNNING' "$WORK/client.log" \
  || fail "the watch showed no RUNNING state change"
grep -q 'epoch 60 ' "$WORK/client.log" || fail "the watch did not show the last epoch's metrics"
grep -q -- '-> SUCCEEDED' "$WORK/client.log" || fail "the watch did not end with SUCCEEDED"
grep -q 'diagnostics at step 300 ' "$WORK/client.log" || fail "the watch showed no diagnostics"
grep -q 'layers\[1\].activation: mean' "$WORK/client.log" \
  || fail "the watch showed no activation diagnostics"

kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ "$rc" = 0 ] || fail "server exited with status $rc after SIGTERM (expected 0)"
echo "PASS: python example trained, downloaded and verified a checkpoint; server stopped cleanly"
