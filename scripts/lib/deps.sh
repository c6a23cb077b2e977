# Debian 12 packages the build, the tests and the examples need. Sourced by
# scripts/test.sh and scripts/quickstart.sh; installs only what is missing.
TRAINYARD_DEPS=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libabsl-dev libgtest-dev libgmock-dev libsqlite3-dev libcli11-dev zlib1g-dev
  libssl-dev libyaml-cpp-dev dataset-fashion-mnist python3 python3-grpcio python3-protobuf
  gnuplot-nox  # draws `trainyard jobs plot` pictures (and its test)
)
# The second compiler CI builds with (scripts/build-clang.sh, the ASan+UBSan
# and libFuzzer build): Debian 12's clang 14 keeps the sanitizer and libFuzzer
# runtimes (libclang_rt.fuzzer-x86_64.a, libclang_rt.asan-...) in
# libclang-rt-14-dev, and llvm-symbolizer, which turns sanitizer reports into
# file:line stacks, in llvm.
TRAINYARD_CLANG_DEPS=(clang libclang-rt-14-dev llvm)

# install_deps [package...]: the given packages, by default TRAINYARD_DEPS.
install_deps() {
  local missing=() wanted=("$@")
  ((${#wanted[@]})) || wanted=("${TRAINYARD_DEPS[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
