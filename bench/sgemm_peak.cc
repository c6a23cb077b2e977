// Single-core sgemm throughput of Eigen on this machine: the yardstick for the
// training core's effective GFLOP/s (bench/vs_pytorch.sh's peak_fraction).
// Prints: sgemm_peak gflops=G
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>

int main() {
  const int n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf b = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf c(n, n);
  double best = 0;
  for (int rep = 0; rep < 8; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  // Keep the product observable so it is not optimised away.
  std::printf("sgemm_peak gflops=%.2f check=%.3f\n", best, static_cast<double>(c(0, 0)));
  return 0;
}
