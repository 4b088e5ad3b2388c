#pragma once
// The optimizer interface, the built-in optimizers by name, and the registry that makes a
// user's own optimizer available by name too (so --optimizer NAME:... works in the CLI).
//
// Semantics, names and defaults are those of torch.optim.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/matrix.hpp"
#include "descent/spec.hpp"
#include "descent/state.hpp"

namespace descent {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of params from grads; both spans are the model's flat buffers (same length).
  // Element-wise work runs in parallel over fixed pieces, so the result does not depend on
  // the thread count.
  virtual void step(std::span<float> params, std::span<const float> grads) = 0;
  // The registered name ("sgd", "adam", ...).
  virtual std::string_view name() const = 0;
  // Allocates the state for `parameter_count` parameters now, so that step() never
  // allocates; the trainer calls it before training. step() prepares itself if needed.
  virtual void prepare(std::size_t parameter_count) { (void)parameter_count; }
  // Forgets all state (buffers, step counts); hyperparameters and the learning rate stay.
  virtual void reset() { steps_ = 0; }
  // The floats of state that prepare(parameter_count) has still to allocate: parameter_count
  // for each buffer visit_state() lists that does not hold that many yet. The trainer counts
  // them against the memory left before it trains.
  std::size_t unprepared_floats(std::size_t parameter_count);

  // The learning rate for the coming step; schedules set it.
  double lr() const noexcept { return lr_; }
  // Throws descent::Error unless lr is finite and >= 0.
  void set_lr(double lr);
  // Optimizer steps taken since construction or reset().
  std::uint64_t steps() const noexcept { return steps_; }

  // The state as bytes (name, learning rate, step count, buffers), and back. load_state
  // throws descent::Error for the state of another optimizer, other hyperparameters that
  // change the state's layout, another parameter count, or damaged bytes.
  std::vector<char> save_state() const;
  void load_state(std::span<const char> bytes);

  // What make_optimizer built it from: the spec with every key and its effective value
  // (given or default), sorted, e.g. "adam:amsgrad=false,beta1=0.9,..."; empty for an
  // optimizer constructed directly. Checkpoints compare it.
  const std::string& spec() const noexcept { return spec_; }

 protected:
  explicit Optimizer(double lr);
  // Lists the state beyond the step count for save_state() and load_state().
  virtual void visit_state(StateVisitor& visitor) { (void)visitor; }
  // Counts a step; call once per step().
  void count_step() noexcept { ++steps_; }

 private:
  friend std::unique_ptr<Optimizer> make_optimizer(std::string_view spec);
  double lr_;
  std::uint64_t steps_ = 0;
  std::string spec_;
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
