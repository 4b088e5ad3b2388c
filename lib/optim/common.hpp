#pragma once
// Internal: what every built-in optimizer shares.

#include <cstddef>
#include <span>
#include <string_view>

#include "descent/matrix.hpp"
#include "parallel/parallel.hpp"

namespace descent::optim {

// 32768 floats: 128 KiB per buffer and piece, large enough to pay for a task.
inline constexpr std::size_t kPiece = std::size_t{1} << 15;

// Runs update(first, count) over fixed pieces of n elements on the library's threads. The
// pieces do not depend on the thread count, and updates are element-wise, so neither does
// the result.
template <class Update>
void for_each_piece(std::size_t n, const Update& update) {
  parallel::for_each_index((n + kPiece - 1) / kPiece, [&](std::size_t piece) {
    const std::size_t first = piece * kPiece;
    update(first, n - first < kPiece ? n - first : kPiece);
  });
}

// Throws descent::Error `optimizer "<name>": <key>=<value> is invalid: <why>` unless ok.
void require(bool ok, std::string_view optimizer, std::string_view key, double value,
             std::string_view why);

// lr, after checking it is > 0; for the base-class initialiser, so that the message names
// the optimizer.
double checked_lr(std::string_view optimizer, double lr);

// The checks every Adam-like optimizer makes: lr > 0, betas in [0, 1), eps >= 0,
// weight_decay >= 0.
void require_adam_like(std::string_view optimizer, double lr, double beta1, double beta2,
                       double eps, double weight_decay);

// Throws descent::Error unless params and grads have the same length.
void check_sizes(std::string_view optimizer, std::span<const float> params,
                 std::span<const float> grads);

// Throws descent::Error when an optimizer that has taken steps (or restored a state) holds
// state for other than n parameters: its state belongs to another model.
void check_state_size(std::string_view optimizer, std::uint64_t steps, std::size_t state_size,
                      std::size_t n);

// Makes `buffer` hold n elements, each `fill`, unless it already holds n.
void ensure(AlignedBuffer<float>& buffer, std::size_t n, float fill = 0.0f);

}  // namespace descent::optim
