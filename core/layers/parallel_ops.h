// Helpers that split a layer's work over the trainer's thread pool by OUTPUT
// blocks: every output element is written by exactly one thread and no
// reduction crosses threads, so a result depends only on the shapes and the
// thread count, never on timing. Small jobs run inline because waking the pool
// costs microseconds.
#ifndef TRAINYARD_CORE_LAYERS_PARALLEL_OPS_H_
#define TRAINYARD_CORE_LAYERS_PARALLEL_OPS_H_

#include <cstdint>

#include "core/layer.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace trainyard {
namespace layers {

// Below this many multiply-adds (or weighted element operations) a job runs
// on the calling thread: about a few microseconds of work, the order of a
// pool dispatch.
inline constexpr int64_t kMinParallelWork = int64_t{1} << 17;
// Column blocks (samples) are whole multiples of this; rows use kRowGrain so
// that row blocks stay aligned to SIMD packets.
inline constexpr int64_t kColGrain = 4;
inline constexpr int64_t kRowGrain = 16;

inline bool WorthSplitting(const PassContext& ctx, int64_t work) {
  return ctx.parallel != nullptr && ctx.parallel->threads() > 1 &&
         work >= kMinParallelWork;
}

// Runs fn(col_begin, col_count) over the columns [0, cols) of an element-wise
// job of rows*cols elements, each costing about `cost` cheap operations.
template <typename Fn>
void ForColumns(const PassContext& ctx, int64_t rows, int64_t cols,
                int64_t cost, Fn&& fn) {
  if (!WorthSplitting(ctx, rows * cols * cost)) {
    fn(int64_t{0}, cols);
    return;
  }
  ctx.parallel->For(cols, kColGrain,
                    [&](int64_t begin, int64_t end) { fn(begin, end - begin); });
}

// Same over rows [0, rows) (features), for per-feature work such as batch norm.
template <typename Fn>
void ForRows(const PassContext& ctx, int64_t rows, int64_t cols, int64_t cost,
             Fn&& fn) {
  if (!WorthSplitting(ctx, rows * cols * cost)) {
    fn(int64_t{0}, rows);
    return;
  }
  ctx.parallel->For(rows, kRowGrain,
                    [&](int64_t begin, int64_t end) { fn(begin, end - begin); });
}

struct NoEpilogue {
  void operator()(int64_t, int64_t, int64_t, int64_t) const {}
};

// dst (M, N) = lhs (M, K) * rhs (K, N), written (not accumulated), with
// Eigen's single-threaded GEMM on blocks of dst: column blocks when N is wide
// enough for every thread, else row blocks. The operands may be transposes or
// maps; nothing is copied. epilogue(row, rows, col, cols) runs on each block
// right after its product (e.g. a bias add while the block is in cache).
// REQUIRES: dst already has shape (M, N) and aliases neither operand.
template <typename Dst, typename Lhs, typename Rhs,
          typename Epilogue = NoEpilogue>
void ParallelProduct(const PassContext& ctx, Dst& dst, const Lhs& lhs,
                     const Rhs& rhs, Epilogue epilogue = {}) {
  const int64_t m = dst.rows(), n = dst.cols(), k = lhs.cols();
  if (!WorthSplitting(ctx, m * n * k)) {
    dst.noalias() = lhs * rhs;
    epilogue(0, m, 0, n);
    return;
  }
  const int64_t threads = ctx.parallel->threads();
  if (n >= threads * kColGrain) {
    ctx.parallel->For(n, kColGrain, [&](int64_t begin, int64_t end) {
      dst.middleCols(begin, end - begin).noalias() =
          lhs * rhs.middleCols(begin, end - begin);
      epilogue(0, m, begin, end - begin);
    });
  } else {
    ctx.parallel->For(m, kRowGrain, [&](int64_t begin, int64_t end) {
      dst.middleRows(begin, end - begin).noalias() =
          lhs.middleRows(begin, end - begin) * rhs;
      epilogue(begin, end - begin, 0, n);
    });
  }
}

}  // namespace layers
}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_PARALLEL_OPS_H_
