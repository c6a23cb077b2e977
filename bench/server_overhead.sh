#!/usr/bin/env bash
# What the service costs on top of the core: trains the plain Fashion-MNIST
# MLP (784-256-128-10, Adam, batch 128, 1 thread) for EPOCHS epochs once with
# the core alone (bench/train_bench) and once as a job through a real
# trainyard-server driven by the CLI, alternating ROUNDS times, and reports
#   server_overhead ratio=R submit_to_first_metric_ms=M
# where R is the job's samples/s (from its epoch events) over the core's, and M
# the time from the job's creation to its first metric event (server clock).
#   bench/server_overhead.sh [EPOCHS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-2}
ROUNDS=${2:-2}
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target train_bench trainyard-server trainyard >/dev/null
PY=/usr/bin/python3
WORK=$(mktemp -d)
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TRAINYARD_ADDR=127.0.0.1:$PORT
"$BUILD_DIR/server/trainyard-server" --listen "$TRAINYARD_ADDR" --data-dir "$WORK/data" \
    --workers 1 --default-threads 1 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
until grep -q "server_listening" "$WORK/server.log"; do sleep 0.1; done
ty="$BUILD_DIR/client/trainyard"
D=/usr/share/datasets/fashion-mnist
"$ty" datasets upload "$D/train-images-idx3-ubyte.gz" --labels "$D/train-labels-idx1-ubyte.gz" \
    --format idx --preprocessing scale01 --name fmnist-train >/dev/null 2>&1
cat >"$WORK/model.json" <<'JSON'
{"input_dim": 784, "layers": [{"dense": {"units": 256}}, {"activation": {"kind": "RELU"}},
  {"dense": {"units": 128}}, {"activation": {"kind": "RELU"}}, {"dense": {"units": 10}}]}
JSON
cat >"$WORK/training.json" <<JSON
{"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}, "learning_rate": 0.001},
 "schedule": {"unit": "EPOCHS", "cosine": {"t_max": $EPOCHS}}, "batch_size": 128,
 "epochs": $EPOCHS, "seed": 1, "log_every_steps": 10}
JSON
core=(); served=(); first=()
for ((r = 1; r <= ROUNDS; r++)); do
  core+=("$("$BUILD_DIR/bench/train_bench" --model plain --epochs "$EPOCHS" --threads 1 |
           sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p')")
  job=$("$ty" jobs submit --model "$WORK/model.json" --training "$WORK/training.json" \
          --dataset fmnist-train --threads 1 --wait --output json)
  id=$(echo "$job" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  "$ty" jobs watch "$id" --output json >"$WORK/events.jsonl"
  read -r sps ms < <(echo "$job" | $PY -c '
import json, sys
from datetime import datetime
def t(s):  # RFC 3339 with up to 9 fractional digits; datetime takes 6
    base, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(base + "." + (frac + "000000")[:6])
job = json.load(sys.stdin)
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
epochs = [e["epochMetrics"] for e in ev if "epochMetrics" in e]
secs = sum(e["epochSeconds"] for e in epochs)
n = sum(e["samplesPerSecond"] * e["epochSeconds"] for e in epochs)
firstm = next(e for e in ev if "stepMetrics" in e or "epochMetrics" in e)
delay = t(firstm["time"]) - t(job["createTime"])
print("%.1f %.1f" % (n / secs, delay.total_seconds() * 1000))
' "$WORK/events.jsonl")
  served+=("$sps"); first+=("$ms")
  echo "round $r: core ${core[-1]} samples/s, server $sps samples/s, submit->first metric $ms ms" >&2
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
c=$(printf '%s\n' "${core[@]}" | median)
s=$(printf '%s\n' "${served[@]}" | median)
m=$(printf '%s\n' "${first[@]}" | median)
awk -v c="$c" -v s="$s" -v m="$m" 'BEGIN { printf "server_overhead ratio=%.3f submit_to_first_metric_ms=%.0f\n", s/c, m }'
