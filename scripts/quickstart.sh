#!/usr/bin/env bash
# From a fresh Debian 12 checkout to a trained Fashion-MNIST classifier:
# installs missing packages, builds the server and the CLI, starts a server on
# a free loopback port with its data in .quickstart/ (gitignored), uploads
# Fashion-MNIST (Debian's dataset-fashion-mnist), trains the example MLP
# (examples/fashion_mnist_mlp) while showing the live watch, evaluates the
# final checkpoint on the 10k test images, downloads it and stops the server.
#
#   scripts/quickstart.sh
#   QUICKSTART_EPOCHS=3 scripts/quickstart.sh     # a shorter run
#
# Environment: QUICKSTART_EPOCHS (default: the example's 10; an epoch takes a
# few seconds on 2 cores), QUICKSTART_THREADS (default: all cores), BUILD_DIR
# (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
EPOCHS=${QUICKSTART_EPOCHS:-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["epochs"])' examples/fashion_mnist_mlp/training.json)}
THREADS=${QUICKSTART_THREADS:-$(nproc)}
QS=.quickstart
DATA_DIR=$QS/data
FMNIST=/usr/share/datasets/fashion-mnist
EXAMPLE=examples/fashion_mnist_mlp
SERVER_PID=""

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() {
  echo "quickstart: error: $*" >&2
  [ -f "$QS/server.log" ] && { echo "--- $QS/server.log (tail) ---" >&2; tail -n 20 "$QS/server.log" >&2; }
  exit 1
}

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    say "stopping the server (SIGTERM; it checkpoints and flushes first)"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  rm -f "$QS/server.pid"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

say "installing missing Debian packages"
install_deps

say "building trainyard-server and trainyard in $BUILD_DIR/"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target trainyard-server trainyard
SERVER_BIN=$BUILD_DIR/server/trainyard-server
CLI=$BUILD_DIR/client/trainyard

mkdir -p "$DATA_DIR"
# A server left running by an interrupted earlier quickstart would hold the
# data dir; stop it, but only if that pid really is a trainyard-server.
if [ -f "$QS/server.pid" ]; then
  old=$(cat "$QS/server.pid")
  if [ -n "$old" ] && grep -q trainyard-server "/proc/$old/cmdline" 2>/dev/null; then
    echo "stopping the server left from an earlier run (pid $old)"
    kill -TERM "$old" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$QS/server.pid"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TRAINYARD_ADDR=127.0.0.1:$PORT
say "starting trainyard-server on $TRAINYARD_ADDR (data: $DATA_DIR, log: $QS/server.log)"
"$SERVER_BIN" --listen "$TRAINYARD_ADDR" --data-dir "$DATA_DIR" >"$QS/server.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" >"$QS/server.pid"
for _ in $(seq 1 300); do
  grep -q "server_listening" "$QS/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start-up"
  sleep 0.1
done
grep -q "server_listening" "$QS/server.log" || die "the server did not start within 30 s"
"$CLI" health >/dev/null || die "health check failed"
"$CLI" server info

say "uploading Fashion-MNIST (60k training and 10k test images, IDX, pixels scaled to [0,1])"
upload_idx() {  # NAME IMAGES LABELS -> prints the dataset id
  local out
  out=$("$CLI" datasets upload "$2" --labels "$3" --format idx --name "$1" \
          --preprocessing scale01) || die "uploading $1 failed"
  echo "$out" >&2
  grep -o 'ds-[0-9a-f]\{16\}' <<<"$out" | head -n1
}
TRAIN=$(upload_idx fashion-mnist-train "$FMNIST/train-images-idx3-ubyte.gz" "$FMNIST/train-labels-idx1-ubyte.gz")
TEST=$(upload_idx fashion-mnist-t10k "$FMNIST/t10k-images-idx3-ubyte.gz" "$FMNIST/t10k-labels-idx1-ubyte.gz")
[ -n "$TRAIN" ] && [ -n "$TEST" ] || die "no dataset id in the upload output"

# The example trains 10 epochs with a cosine schedule over 10; a run with
# another length anneals over its own, so it still ends at the low rate.
python3 - "$EXAMPLE/training.json" "$QS/training.json" "$EPOCHS" <<'EOF'
import json, sys
src, dst, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = json.load(open(src))
cfg["epochs"] = epochs
if "cosine" in cfg.get("schedule", {}):
    cfg["schedule"]["cosine"]["t_max"] = epochs
json.dump(cfg, open(dst, "w"), indent=2)
EOF

say "training $EXAMPLE: $EPOCHS epochs, $THREADS thread(s)"
SUBMIT=$("$CLI" jobs submit --model "$EXAMPLE/model.json" --training "$QS/training.json" \
           --dataset "$TRAIN" --name fashion-mnist-mlp --threads "$THREADS") \
  || die "submitting the job failed"
echo "$SUBMIT"
JOB=$(grep -o 'job-[0-9a-f]\{16\}' <<<"$SUBMIT" | head -n1)
[ -n "$JOB" ] || die "no job id in the submit output"

say "watching $JOB live (Ctrl-C stops the quickstart and the server)"
"$CLI" jobs watch "$JOB" || true  # the final state is checked just below
SHOW=$("$CLI" jobs show "$JOB") || die "jobs show failed"
grep -q SUCCEEDED <<<"$SHOW" || { echo "$SHOW"; die "job $JOB did not succeed"; }

CKPT=$("$CLI" checkpoints list "$JOB" | grep -o '[0-9a-f]\{64\}' | tail -n1)
[ -n "$CKPT" ] || die "job $JOB has no checkpoint"

say "evaluating checkpoint ${CKPT:0:12}… on the 10k test images"
EVAL=$("$CLI" evaluate "$CKPT" "$TEST") || die "evaluate failed"
echo "$EVAL"

OUT=$QS/fashion_mnist_mlp.ckpt
"$CLI" checkpoints download "$CKPT" -o "$OUT" >/dev/null || die "download failed"
[ "$(sha256sum "$OUT" | cut -d' ' -f1)" = "$CKPT" ] || die "downloaded checkpoint fails its sha256"

say "done"
ACC=$(grep -io 'accuracy[^0-9]*[0-9.]*' <<<"$EVAL" | head -n1 || true)
echo "  test set (10k images): ${ACC:-see the evaluation above}"
echo "  job:        $JOB"
echo "  checkpoint: $OUT (sha256 $CKPT)"
echo "  server log: $QS/server.log; data dir: $DATA_DIR"
