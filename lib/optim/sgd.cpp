#include "descent/optim/sgd.hpp"

#include <string_view>

#include "kernels/kernel_table.hpp"
#include "optim/builtin.hpp"
#include "optim/common.hpp"

namespace descent {

Sgd::Sgd(const SgdOptions& o, std::string_view spelled)
    : Optimizer(optim::checked_lr(spelled, o.lr)), options_(o) {
  optim::require(o.lr > 0.0, spelled, "lr", o.lr, "must be > 0");
  optim::require(o.momentum >= 0.0, spelled, "momentum", o.momentum, "must be >= 0");
  optim::require(o.dampening >= 0.0 && o.dampening <= 1.0, spelled, "dampening", o.dampening,
                 "must be in [0, 1]");
  optim::require(o.weight_decay >= 0.0, spelled, "weight_decay", o.weight_decay, "must be >= 0");
  if (o.nesterov) {
    optim::require(o.momentum > 0.0, spelled, "momentum", o.momentum,
                   "nesterov needs a momentum > 0");
    optim::require(o.dampening == 0.0, spelled, "dampening", o.dampening,
                   "nesterov needs dampening = 0");
  }
}

void Sgd::prepare(std::size_t n) {
  optim::check_state_size(name(), steps(), momentum_buffer_.size(), n);
  if (options_.momentum != 0.0) optim::ensure(momentum_buffer_, n);
}

void Sgd::step(std::span<float> params, std::span<const float> grads) {
  optim::check_sizes(name(), params, grads);
  prepare(params.size());
  const kernels::SgdParams s{.lr = lr(),
                             .momentum = options_.momentum,
                             .dampening = options_.dampening,
                             .weight_decay = options_.weight_decay,
                             .nesterov = options_.nesterov,
                             .maximize = options_.maximize,
                             .first_step = steps() == 0};
  const auto& k = kernels::active();
  float* buf = momentum_buffer_.empty() ? nullptr : momentum_buffer_.data();
  optim::for_each_piece(params.size(), [&](std::size_t first, std::size_t count) {
    k.sgd_step(count, params.data() + first, grads.data() + first,
               buf == nullptr ? nullptr : buf + first, s);
  });
  count_step();
}

void Sgd::visit_state(StateVisitor& v) {
  if (options_.momentum != 0.0) v.buffer("momentum_buffer", momentum_buffer_);
}

namespace {

std::unique_ptr<Optimizer> make_sgd_with(SpecReader& r, SgdOptions o) {
  o.lr = r.number("lr", o.lr);
  o.momentum = r.number("momentum", o.momentum);
  o.dampening = r.number("dampening", o.dampening);
  o.weight_decay = r.number("weight_decay", o.weight_decay);
  o.nesterov = r.boolean("nesterov", o.nesterov);
  o.maximize = r.boolean("maximize", o.maximize);
  return std::make_unique<Sgd>(o, r.name());
}

}  // namespace

std::unique_ptr<Optimizer> make_sgd(SpecReader& r) {
  return make_sgd_with(r, {});
}

std::unique_ptr<Optimizer> make_momentum(SpecReader& r) {
  return make_sgd_with(r, {.momentum = 0.9});
}

std::unique_ptr<Optimizer> make_nesterov(SpecReader& r) {
  return make_sgd_with(r, {.momentum = 0.9, .nesterov = true});
}

}  // namespace descent
