#pragma once
// A seeded, portable random number generator (xoshiro256**, seeded through splitmix64).
// The same seed gives the same numbers on every platform and compiler: descent does not
// use the standard library's distributions, whose output is implementation-defined.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace descent {

class Rng {
 public:
  using State = std::array<std::uint64_t, 4>;

  explicit Rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept;
  std::uint64_t next_u64() noexcept;
  // Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float uniform_float() noexcept { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  double uniform_double() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  float uniform(float low, float high) noexcept { return low + (high - low) * uniform_float(); }
  // Standard normal (Box-Muller in double).
  double normal() noexcept;
  // Uniform integer in [0, bound), without modulo bias; a bound of 0 throws descent::Error.
  std::uint64_t below(std::uint64_t bound);
  // Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::span<T> items) noexcept {
    for (std::size_t i = items.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      T tmp = items[i - 1];
      items[i - 1] = items[j];
      items[j] = tmp;
    }
  }

  // The whole state, so that checkpoints can resume a stream exactly. set_state throws
  // descent::Error for the all-zero state, which xoshiro256** never leaves (and never reaches).
  State state() const noexcept { return state_; }
  void set_state(const State& state);

 private:
  State state_{};
};

}  // namespace descent
