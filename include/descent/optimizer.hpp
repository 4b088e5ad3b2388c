#pragma once
// The optimizer interface, the built-in optimizers by name, and the registry that makes a
// user's own optimizer available by name too (so --optimizer NAME:... works in the CLI).
//
// Semantics, names and defaults are those of torch.optim.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/spec.hpp"

namespace descent {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of params from grads; both spans are the model's flat buffers (same length).
  virtual void step(std::span<float> params, std::span<const float> grads) = 0;
  // The registered name ("sgd", ...).
  virtual std::string_view name() const = 0;
  // Forgets all state (momentum buffers, step counts); hyperparameters stay.
  virtual void reset() {}

  // The learning rate for the coming step; schedules set it.
  float lr() const noexcept { return lr_; }
  // Throws descent::Error unless lr is finite and >= 0.
  void set_lr(float lr);

 protected:
  explicit Optimizer(float lr);

 private:
  float lr_;
};

// Builds an optimizer from the options of its spec. Read every key you accept from the
// reader; make_optimizer rejects the keys left unread.
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(SpecReader& options)>;

// Makes `factory` available as `name` to make_optimizer and the CLI. Throws descent::Error
// for an empty or malformed name, or one that is already registered.
void register_optimizer(std::string name, OptimizerFactory factory);

// Builds an optimizer from a spec such as "sgd:lr=0.05". Throws descent::Error for an
// unknown name or key, an unparsable or an invalid value, naming it.
std::unique_ptr<Optimizer> make_optimizer(std::string_view spec);

// Every registered name, built-ins first.
std::vector<std::string> optimizer_names();

}  // namespace descent
