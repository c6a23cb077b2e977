// A small, fully specified random number generator (xoshiro256**), so that
// results are bit-identical across standard libraries and its state can be
// stored in a checkpoint. std::normal_distribution is neither.
#ifndef TRAINYARD_CORE_RNG_H_
#define TRAINYARD_CORE_RNG_H_

#include <array>
#include <cstdint>

namespace trainyard {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  // Expands `seed` with splitmix64 into the 256-bit state.
  void Seed(uint64_t seed);

  uint64_t NextU64();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal by Box-Muller; keeps no cached second value, so the state
  // alone determines the stream.
  double Normal();
  // Uniform integer in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n);

  // An independent stream derived from this one's state and `stream_id`
  // (e.g. one per layer), without advancing this generator.
  Rng Fork(uint64_t stream_id) const;

  const State& state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  State s_;
};

}  // namespace trainyard

#endif  // TRAINYARD_CORE_RNG_H_
