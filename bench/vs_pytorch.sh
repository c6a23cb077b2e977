#!/usr/bin/env bash
# Trains the same Fashion-MNIST models with trainyard's core and with PyTorch
# (Debian's python3-torch), same architecture, optimiser (Adam 1e-3, cosine),
# batch size, epochs and thread count, alternating runs in one invocation.
#   bench/vs_pytorch.sh [THREADS] [ROUNDS]
# Last line:
#   vs_pytorch threads=T plain_ratio=X bn_ratio=Y trainyard_acc=A pytorch_acc=B peak_fraction=F
# plain: 784-256-128-10 ReLU (throughput, 1 epoch per run, median of ROUNDS);
# bn: 784-512-256-10 with batch norm and dropout 0.2, 10 epochs (throughput
# and test accuracy); F: the plain model's effective GFLOP/s over Eigen's
# single-core sgemm peak measured here.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-1}
ROUNDS=${2:-3}
BUILD_DIR=${BUILD_DIR:-build}
if ! [ -x "$BUILD_DIR/bench/train_bench" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target train_bench sgemm_peak
fi
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null || {
  echo "needs Debian's python3-torch: apt-get install python3-torch" >&2; exit 2; }
# Debian's torch calls the system BLAS; with the reference libblas3 alone it is
# ~30x slower than with OpenBLAS, which would make the comparison meaningless.
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed" || {
  echo "PyTorch needs OpenBLAS for a fair comparison: apt-get install libopenblas0-pthread" >&2; exit 2; }
# The machine's OPENBLAS_CORETYPE pin exists for old OpenBLAS builds; it slows
# the current one, so PyTorch runs without it (its strongest configuration).
pytorch() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$THREADS" \
      OPENBLAS_NUM_THREADS="$THREADS" /usr/bin/python3 bench/vs_pytorch.py "$@"
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

peak=$("$BUILD_DIR/bench/sgemm_peak" | tee -a /dev/stderr | field gflops)

ty_plain=(); pt_plain=()
for ((r = 1; r <= ROUNDS; r++)); do
  ty_plain+=("$("$BUILD_DIR/bench/train_bench" --model plain --epochs 1 --threads "$THREADS" | tee -a /dev/stderr | field samples_per_s)")
  pt_plain+=("$(pytorch --model plain --epochs 1 --threads "$THREADS" | tee -a /dev/stderr | field samples_per_s)")
done
ty_line=$("$BUILD_DIR/bench/train_bench" --model bn --epochs 10 --threads "$THREADS" | tee -a /dev/stderr)
pt_line=$(pytorch --model bn --epochs 10 --threads "$THREADS" | tee -a /dev/stderr)

ty_p=$(printf '%s\n' "${ty_plain[@]}" | median)
pt_p=$(printf '%s\n' "${pt_plain[@]}" | median)
ty_bn=$(echo "$ty_line" | field samples_per_s)
pt_bn=$(echo "$pt_line" | field samples_per_s)
ty_acc=$(echo "$ty_line" | field test_acc)
pt_acc=$(echo "$pt_line" | field test_acc)
# Training FLOPs per sample of 784-256-128-10: forward 2*MACs, weight
# gradients 2*MACs, input gradients 2*MACs except the first layer's.
macs=$((784*256 + 256*128 + 128*10))
flops=$((4*macs + 2*(256*128 + 128*10)))
awk -v t="$THREADS" -v a="$ty_p" -v b="$pt_p" -v c="$ty_bn" -v d="$pt_bn" \
    -v ea="$ty_acc" -v eb="$pt_acc" -v f="$flops" -v p="$peak" 'BEGIN {
  printf "vs_pytorch threads=%d plain_ratio=%.2f bn_ratio=%.2f trainyard_acc=%.4f pytorch_acc=%.4f peak_fraction=%.2f\n",
         t, a/b, c/d, ea, eb, a*f/1e9/p }'
