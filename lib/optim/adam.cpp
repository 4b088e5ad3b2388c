#include "descent/optim/adam.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Adam::Adam(const AdamOptions& o) : Adam(o, false) {}

Adam::Adam(const AdamOptions& o, bool decoupled)
    : Optimizer(optim::checked_lr(decoupled ? "adamw" : "adam", o.lr)),
      options_(o),
      decoupled_(decoupled) {
  optim::require_adam_like(name(), o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

AdamW::AdamW(const AdamWOptions& o)
    : Adam(AdamOptions{.lr = o.lr,
                       .beta1 = o.beta1,
                       .beta2 = o.beta2,
                       .eps = o.eps,
                       .weight_decay = o.weight_decay,
                       .amsgrad = o.amsgrad,
                       .maximize = o.maximize},
           true) {}

void Adam::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), exp_avg_.size(), n);
  optim::ensure(exp_avg_, n);
  optim::ensure(exp_avg_sq_, n);
  if (options_.amsgrad) optim::ensure(max_exp_avg_sq_, n);
}

void Adam::reset() {
  Optimizer::reset();
  for (auto* b : {&exp_avg_, &exp_avg_sq_, &max_exp_avg_sq_})
    std::fill(b->data(), b->data() + b->size(), 0.0f);
}

void Adam::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const double t = static_cast<double>(steps() + 1);
  const kernels::AdamParams s{
      .lr = lr(),
      .beta1 = options_.beta1,
      .beta2 = options_.beta2,
      .eps = options_.eps,
      .weight_decay = options_.weight_decay,
      .step_size = lr() / (1.0 - std::pow(options_.beta1, t)),
      .bias_correction2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, t)),
      .amsgrad = options_.amsgrad,
      .maximize = options_.maximize,
      .decoupled = decoupled_,
  };
  const auto& k = kernels::active();
  float* vmax = max_exp_avg_sq_.empty() ? nullptr : max_exp_avg_sq_.data();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.adam_step(count, params.data() + first, grads.data() + first, exp_avg_.data() + first,
                exp_avg_sq_.data() + first, vmax == nullptr ? nullptr : vmax + first, s);
  });
  count_step();
}

void Adam::visit_state(StateVisitor& v) {
  v.buffer("exp_avg", exp_avg_);
  v.buffer("exp_avg_sq", exp_avg_sq_);
  if (options_.amsgrad) v.buffer("max_exp_avg_sq", max_exp_avg_sq_);
}

namespace {

// Adam and AdamW take the same keys; only the default weight decay differs.
template <class Options>
Options read_options(SpecReader& r, Options o) {
  o.lr = r.number("lr", o.lr);
  o.beta1 = r.number("beta1", o.beta1);
  o.beta2 = r.number("beta2", o.beta2);
  o.eps = r.number("eps", o.eps);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.amsgrad = r.boolean("amsgrad", o.amsgrad);
  o.maximize = r.boolean("maximize", o.maximize);
  return o;
}

}  // namespace

std::unique_ptr<Optimizer> make_adam(SpecReader& r) {
  return std::make_unique<Adam>(read_options(r, AdamOptions{}));
}

std::unique_ptr<Optimizer> make_adamw(SpecReader& r) {
  return std::make_unique<AdamW>(read_options(r, AdamWOptions{}));
}

}  // namespace descent
