#include "descent/optim/adagrad.hpp"

#include <algorithm>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Adagrad::Adagrad(const AdagradOptions& o)
    : Optimizer(optim::checked_lr("adagrad", o.lr)), options_(o) {
  optim::require(o.lr > 0.0, "adagrad", "lr", o.lr, "must be > 0");
  optim::require(o.lr_decay >= 0.0, "adagrad", "lr_decay", o.lr_decay, "must be >= 0");
  optim::require(o.weight_decay >= 0.0, "adagrad", "weight_decay", o.weight_decay, "must be >= 0");
  optim::require(o.initial_accumulator_value >= 0.0, "adagrad", "initial_accumulator_value",
                 o.initial_accumulator_value, "must be >= 0");
  optim::require(o.eps >= 0.0, "adagrad", "eps", o.eps, "must be >= 0");
}

void Adagrad::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), sum_.size(), n);
  optim::ensure(sum_, n, static_cast<float>(options_.initial_accumulator_value));
}

void Adagrad::reset() {
  Optimizer::reset();
  std::fill(sum_.data(), sum_.data() + sum_.size(),
            static_cast<float>(options_.initial_accumulator_value));
}

void Adagrad::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const double t = static_cast<double>(steps() + 1);
  const kernels::AdagradParams s{.clr = lr() / (1.0 + (t - 1.0) * options_.lr_decay),
                                 .weight_decay = options_.weight_decay,
                                 .eps = options_.eps,
                                 .maximize = options_.maximize};
  const auto& k = kernels::active();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.adagrad_step(count, params.data() + first, grads.data() + first, sum_.data() + first, s);
  });
  count_step();
}

void Adagrad::visit_state(StateVisitor& v) {
  v.buffer("sum", sum_);
}

std::unique_ptr<Optimizer> make_adagrad(SpecReader& r) {
  AdagradOptions o;
  o.lr = r.number("lr", o.lr);
  o.lr_decay = r.number("lr_decay", o.lr_decay);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.initial_accumulator_value = r.number("initial_accumulator_value", o.initial_accumulator_value);
  o.eps = r.number("eps", o.eps);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Adagrad>(o);
}

}  // namespace descent
