#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <thread>
#include <vector>

namespace trainyard {
namespace {

// Iterations a waiting thread polls before it sleeps in the kernel. For runs
// several times per training step with only a little serial work in between,
// so a short spin usually catches the next call without a futex round trip;
// keeping it short means an idle pool costs no CPU.
constexpr int kSpinIterations = 2000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Chunk `index` of [0, n) split into `chunks` runs of whole grains; the extra
// grains go to the first chunks and the partial grain (if any) to the last.
void ChunkBounds(int64_t n, int64_t grain, int64_t chunks, int64_t index,
                 int64_t* begin, int64_t* end) {
  const int64_t units = (n + grain - 1) / grain;
  const int64_t base = units / chunks;
  const int64_t extra = units % chunks;
  const int64_t first_unit = index * base + std::min(index, extra);
  const int64_t num_units = base + (index < extra ? 1 : 0);
  *begin = first_unit * grain;
  *end = std::min(n, (first_unit + num_units) * grain);
}

}  // namespace

// Workers wait on `generation`; the caller publishes a job (fn, n, grain,
// chunks), bumps the generation and runs chunk 0 itself, then waits until
// `pending` drops to zero. Every worker acknowledges every generation (even
// one with no chunk for it), so the job fields stay untouched until all
// workers have read them.
struct Parallel::Impl {
  std::vector<std::thread> workers;
  std::atomic<uint32_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stop{false};  // set before the final generation bump

  // The current job; written by the caller before the generation bump.
  const absl::FunctionRef<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t grain = 1;
  int64_t chunks = 0;

  void WorkerLoop(int index) {
    uint32_t seen = 0;
    for (;;) {
      uint32_t current;
      int spins = 0;
      while ((current = generation.load(std::memory_order_acquire)) == seen) {
        if (++spins < kSpinIterations) {
          CpuRelax();
        } else {
          generation.wait(seen, std::memory_order_acquire);
        }
      }
      seen = current;
      if (stop.load(std::memory_order_relaxed)) return;
      if (index < chunks) {
        int64_t begin, end;
        ChunkBounds(n, grain, chunks, index, &begin, &end);
        (*fn)(begin, end);
      }
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        pending.notify_one();
      }
    }
  }
};

Parallel::Parallel(int threads) : threads_(std::max(threads, 1)) {
  assert(threads >= 1);
  if (threads_ == 1) return;
  impl_ = std::make_unique<Impl>();
  impl_->workers.reserve(threads_ - 1);
  for (int i = 1; i < threads_; ++i) {
    impl_->workers.emplace_back([impl = impl_.get(), i] { impl->WorkerLoop(i); });
  }
}

Parallel::~Parallel() {
  if (!impl_) return;
  impl_->stop.store(true, std::memory_order_relaxed);
  impl_->generation.fetch_add(1, std::memory_order_release);
  impl_->generation.notify_all();
  for (auto& worker : impl_->workers) worker.join();
}

void Parallel::For(int64_t n, int64_t grain,
                   absl::FunctionRef<void(int64_t begin, int64_t end)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t units = (n + grain - 1) / grain;
  const int64_t chunks = std::min<int64_t>(threads_, units);
  if (!impl_ || chunks == 1) {
    fn(0, n);
    return;
  }
  Impl& impl = *impl_;
  impl.fn = &fn;
  impl.n = n;
  impl.grain = grain;
  impl.chunks = chunks;
  impl.pending.store(threads_ - 1, std::memory_order_relaxed);
  impl.generation.fetch_add(1, std::memory_order_release);
  impl.generation.notify_all();

  int64_t begin, end;
  ChunkBounds(n, grain, chunks, 0, &begin, &end);
  fn(begin, end);

  int spins = 0;
  int left;
  while ((left = impl.pending.load(std::memory_order_acquire)) != 0) {
    if (++spins < kSpinIterations) {
      CpuRelax();
    } else {
      impl.pending.wait(left, std::memory_order_acquire);
    }
  }
}

}  // namespace trainyard
