// The optimizer registry. Built-ins are registered here, by direct reference, when the
// registry is first used: no static initializer in another object file that a static link
// could drop.

#include "descent/optimizer.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/state_io.hpp"
#include "descent/error.hpp"
#include "optim/builtin.hpp"

namespace descent {

Optimizer::Optimizer(double lr) : lr_(lr) {
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  // The same upper bound as a built-in's constructor (optim::checked_lr): the updates are
  // float arithmetic. 0 and rates below float's smallest are allowed here, where a schedule
  // decays to them.
  if (!std::isfinite(lr) || lr < 0.0 || lr > std::numeric_limits<float>::max()) {
    throw Error(
        fmt::format("learning rate {} is invalid: it must be >= 0 and at most 3.4e38 "
                    "(the largest 32-bit float)",
                    lr));
  }
  lr_ = lr;
}

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::pair<std::string, OptimizerFactory>> entries;

  Registry() {
    for (auto& [name, factory] : builtin_optimizers()) entries.emplace_back(name, factory);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_optimizer(std::string name, OptimizerFactory factory) {
  if (name.empty() || name.find_first_of(":,=[] \t") != std::string::npos) {
    throw Error(
        fmt::format("optimizer name \"{}\" is invalid: it must be non-empty and contain "
                    "none of : , = [ ] or spaces",
                    name));
  }
  if (!factory) throw Error(fmt::format("optimizer \"{}\": the factory is empty", name));
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (const auto& entry : r.entries) {
    if (entry.first == name)
      throw Error(fmt::format("optimizer \"{}\" is already registered", name));
  }
  r.entries.emplace_back(std::move(name), std::move(factory));
}

std::vector<std::string> optimizer_names() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& entry : r.entries) names.push_back(entry.first);
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view text) {
  const Spec spec = Spec::parse(text, "optimizer");
  OptimizerFactory factory;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (const auto& entry : r.entries)
      if (entry.first == spec.name) factory = entry.second;
  }
  if (!factory) {
    throw Error(fmt::format("unknown optimizer \"{}\" (known: {})", spec.name,
                            fmt::join(optimizer_names(), ", ")));
  }
  SpecReader reader(spec, "optimizer");
  std::unique_ptr<Optimizer> optimizer = factory(reader);
  reader.finish();
  if (!optimizer)
    throw Error(fmt::format("optimizer \"{}\": the factory returned nothing", spec.name));
  optimizer->spec_ = reader.canonical();
  return optimizer;
}

}  // namespace descent

namespace descent {
namespace {
constexpr std::string_view kOptimizerStateMagic{"DSNTOPT1", 8};
}  // namespace

std::vector<char> Optimizer::save_state() const {
  // The visitor interface takes references for both directions; writing changes nothing.
  auto& self = const_cast<Optimizer&>(*this);
  return state_io::write(kOptimizerStateMagic, name(), lr_, [&](StateVisitor& v) {
    v.counter("step", self.steps_);
    self.visit_state(v);
  });
}

std::size_t Optimizer::unprepared_floats(std::size_t parameter_count) {
  struct Counter final : StateVisitor {
    std::size_t n = 0, floats = 0;
    void buffer(std::string_view, AlignedBuffer<float>& values) override {
      if (values.size() != n) floats = floats > SIZE_MAX - n ? SIZE_MAX : floats + n;
    }
    void counter(std::string_view, std::uint64_t&) override {}
    void scalar(std::string_view, double&) override {}
  } counter;
  counter.n = parameter_count;
  visit_state(counter);
  return counter.floats;
}

void Optimizer::load_state(std::span<const char> bytes) {
  const double rate =
      state_io::read(bytes, kOptimizerStateMagic, name(), "optimizer state", [&](StateVisitor& v) {
        v.counter("step", steps_);
        visit_state(v);
      });
  set_lr(rate);
}

}  // namespace descent
