// The built-in optimizers beyond their trajectories: names and defaults, every invalid
// hyperparameter, state save/restore and reset.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "descent/descent.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

TEST(BuiltinOptimizers, EveryNameBuildsWithPyTorchsDefaultRate) {
  const std::vector<std::pair<std::string, double>> defaults = {
      {"sgd", 1e-3},     {"momentum", 1e-3}, {"nesterov", 1e-3}, {"adagrad", 1e-2},
      {"rmsprop", 1e-2}, {"adam", 1e-3},     {"adamw", 1e-3},    {"nadam", 2e-3},
      {"radam", 1e-3},   {"adamax", 2e-3},   {"adadelta", 1.0}};
  const auto names = optimizer_names();
  for (const auto& [name, lr] : defaults) {
    auto opt = make_optimizer(name);
    EXPECT_DOUBLE_EQ(opt->lr(), lr) << name;
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  // The aliases are sgd with momentum 0.9 (and Nesterov).
  EXPECT_EQ(make_optimizer("momentum")->name(), "sgd");
  const auto* nesterov = dynamic_cast<const Sgd*>(make_optimizer("nesterov:lr=0.1").get());
  ASSERT_NE(nesterov, nullptr);
  EXPECT_DOUBLE_EQ(AdamW().options().weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(AdamWOptions{}.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(NadamOptions{}.momentum_decay, 4e-3);
}

TEST(BuiltinOptimizers, InvalidHyperparametersNameTheKeyAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sgd:lr=0", "lr=0 is invalid"},
      {"sgd:lr=-0.1", "lr=-0.1 is invalid"},
      {"sgd:momentum=-1", "momentum=-1 is invalid"},
      {"sgd:dampening=2", "dampening=2 is invalid"},
      {"sgd:weight_decay=-1", "weight_decay=-1 is invalid"},
      {"sgd:nesterov=true", "nesterov needs a momentum > 0"},
      {"sgd:momentum=0.9,nesterov=true,dampening=0.1", "nesterov needs dampening = 0"},
      {"nesterov:momentum=0", "nesterov needs a momentum > 0"},
      // An alias is named as written, as its unknown keys are.
      {"nesterov:dampening=0.5", "optimizer \"nesterov\": dampening=0.5 is invalid"},
      {"momentum:lr=-1", "optimizer \"momentum\": lr=-1 is invalid"},
      {"momentum:betas=1", "optimizer \"momentum\": unknown key \"betas\""},
      {"adagrad:lr_decay=-1", "lr_decay=-1 is invalid"},
      {"adagrad:initial_accumulator_value=-1", "initial_accumulator_value=-1 is invalid"},
      {"adagrad:eps=-1e-10", "eps=-1e-10 is invalid"},
      {"rmsprop:alpha=1.5", "alpha=1.5 is invalid"},
      {"rmsprop:momentum=-0.5", "momentum=-0.5 is invalid"},
      {"adam:beta1=1", "beta1=1 is invalid: must be in [0, 1)"},
      {"adam:beta2=-0.1", "beta2=-0.1 is invalid"},
      {"adam:eps=-1", "eps=-1 is invalid"},
      {"adamw:weight_decay=-0.01", "weight_decay=-0.01 is invalid"},
      {"nadam:momentum_decay=-1", "momentum_decay=-1 is invalid"},
      {"radam:beta1=1.5", "beta1=1.5 is invalid"},
      {"adamax:beta2=1", "beta2=1 is invalid"},
      {"adadelta:rho=1.1", "rho=1.1 is invalid"},
      {"adam:amsgrad=yes", "amsgrad=yes is not a boolean"},
      {"adam:betas=0.9", "unknown key \"betas\""},
      {"adam:lr=abc", "lr=abc is not a number"},
      {"adadelta:lr=nan", "lr=nan is not finite"},
      {"sgd:lr=1e-400", "lr=1e-400 is out of range for a number"},
  };
  for (const auto& [spec, fragment] : cases) {
    const std::string message = test::error_message([&] { make_optimizer(spec); });
    EXPECT_NE(message.find(fragment), std::string::npos) << spec << ": " << message;
  }
}

// The options structs reach the same checks as the specs: an infinite momentum, eps or decay
// passes ">= 0" but turns the first step's parameters into NaN or inf.
TEST(BuiltinOptimizers, OptionsStructsRefuseInfiniteHyperparameters) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[&] { Sgd({.lr = 0.1, .momentum = inf}); }, "momentum=inf"},
      {[&] { Sgd({.lr = 0.1, .weight_decay = inf}); }, "weight_decay=inf"},
      {[&] { Adagrad({.lr_decay = inf}); }, "lr_decay=inf"},
      {[&] { Adagrad({.initial_accumulator_value = inf}); }, "initial_accumulator_value=inf"},
      {[&] { Rmsprop({.momentum = inf}); }, "momentum=inf"},
      {[&] { Adadelta({.eps = inf}); }, "eps=inf"},
      {[&] { AdamW({.weight_decay = inf}); }, "weight_decay=inf"},
      {[&] { Adam({.eps = inf}); }, "eps=inf"},
      {[&] { Nadam({.momentum_decay = inf}); }, "momentum_decay=inf"},
      {[&] { Radam({.eps = inf}); }, "eps=inf"},
      {[&] { Adamax({.weight_decay = inf}); }, "weight_decay=inf"},
  };
  for (const auto& [build, fragment] : cases) {
    const std::string message = test::error_message(build);
    EXPECT_NE(message.find(fragment + " is invalid: it must be a finite number"), std::string::npos)
        << fragment << ": " << message;
  }
  // Rates beyond float's range, either way.
  EXPECT_NE(test::error_message([] { make_optimizer("sgd:lr=1e39"); }).find("too large"),
            std::string::npos);
  EXPECT_NE(test::error_message([] { Adam({.lr = 1e-50}); }).find("0 as a 32-bit float"),
            std::string::npos);
}

// Trains `steps` steps of a fixed gradient sequence.
void run(Optimizer& opt, std::vector<float>& p, int first, int steps) {
  for (int s = first; s < first + steps; ++s) {
    const auto g = test::random_floats(p.size(), static_cast<std::uint64_t>(100 + s));
    opt.step(p, g);
  }
}

TEST(OptimizerState, SaveAndLoadContinueExactly) {
  for (const char* spec :
       {"sgd:momentum=0.9", "adagrad:lr_decay=0.1", "rmsprop:centered=true,momentum=0.3",
        "adam:amsgrad=true", "adamw", "nadam", "radam", "adamax", "adadelta"}) {
    SCOPED_TRACE(spec);
    const auto start = test::random_floats(1000, 7);
    auto a = make_optimizer(spec);
    std::vector<float> pa = start;
    run(*a, pa, 0, 20);  // uninterrupted

    auto b = make_optimizer(spec);
    std::vector<float> pb = start;
    run(*b, pb, 0, 8);
    const std::vector<char> state = b->save_state();
    b.reset();
    auto c = make_optimizer(spec);
    c->set_lr(123.0);  // restored from the state
    c->load_state(state);
    EXPECT_EQ(c->steps(), 8u);
    run(*c, pb, 8, 12);
    EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)));
  }
}

TEST(OptimizerState, RejectsStateOfAnotherKindSizeOrDamage) {
  std::vector<float> p(50, 1.0f), g(50, 0.5f);
  auto adam = make_optimizer("adam");
  adam->step(p, g);
  const auto state = adam->save_state();
  EXPECT_NE(test::error_message([&] {
              make_optimizer("sgd:momentum=0.9")->load_state(state);
            }).find("is for adam, not sgd"),
            std::string::npos);
  // Same name, other hyperparameters that change the state's layout.
  EXPECT_NE(test::error_message([&] {
              make_optimizer("adam:amsgrad=true")->load_state(state);
            }).find("does not match"),
            std::string::npos);
  // Same optimizer prepared for another parameter count.
  auto other = make_optimizer("adam");
  other->prepare(60);
  EXPECT_NE(test::error_message([&] { other->load_state(state); }).find("holds 50 values"),
            std::string::npos);
  // Damaged or truncated bytes, and a failed load changes nothing.
  auto target = make_optimizer("adam");
  target->set_lr(0.5);
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, state.size() / 2, state.size() - 1}) {
    EXPECT_THROW(target->load_state(std::span<const char>(state.data(), cut)), Error);
  }
  auto damaged = state;
  damaged[damaged.size() / 2] ^= 0x10;
  EXPECT_THROW(target->load_state(damaged), Error);
  EXPECT_EQ(target->steps(), 0u);
  EXPECT_DOUBLE_EQ(target->lr(), 0.5);
}

// An optimizer that saves whatever state a test makes up, under another optimizer's name.
class MadeUpState final : public Optimizer {
 public:
  MadeUpState(std::string name, std::function<void(StateVisitor&)> visit)
      : Optimizer(0.1), name_(std::move(name)), visit_(std::move(visit)) {}
  void step(std::span<float>, std::span<const float>) override {}
  std::string_view name() const override { return name_; }

 protected:
  void visit_state(StateVisitor& v) override { visit_(v); }

 private:
  std::string name_;
  std::function<void(StateVisitor&)> visit_;
};

TEST(OptimizerState, EveryBufferBelongsToTheSameParameters) {
  AlignedBuffer<float> fifty(50), forty(40);
  std::fill(fifty.data(), fifty.data() + 50, 0.25f);
  const auto uneven = MadeUpState("adam", [&](StateVisitor& v) {
                        v.buffer("exp_avg", fifty);
                        v.buffer("exp_avg_sq", forty);
                      }).save_state();
  // Unprepared, the sizes cannot be checked against the optimizer's, but against each other.
  EXPECT_NE(test::error_message([&] {
              make_optimizer("adam")->load_state(uneven);
            }).find("an earlier buffer 50"),
            std::string::npos);
  // Prepared, the check comes before any copy: the first buffer is not half-restored.
  auto prepared = make_optimizer("adam");
  std::vector<float> p(50, 1.0f), g(50, 0.5f);
  prepared->step(p, g);
  const auto before = prepared->save_state();
  EXPECT_THROW(prepared->load_state(uneven), Error);
  EXPECT_EQ(prepared->save_state(), before);

  // A state restored into an unprepared optimizer fixes its parameter count: a step on other
  // parameters is refused, until reset().
  auto restored = make_optimizer("adam");
  restored->load_state(before);
  std::vector<float> p7(7, 1.0f), g7(7, 0.5f);
  EXPECT_NE(test::error_message([&] {
              restored->step(p7, g7);
            }).find("its state is for 50 parameters (after 1 steps) but the model has 7"),
            std::string::npos);
  EXPECT_EQ(p7, std::vector<float>(7, 1.0f));
  restored->reset();
  restored->step(p7, g7);
  EXPECT_NE(p7, std::vector<float>(7, 1.0f));
}

// What the trainer counts against the memory left before it trains.
TEST(OptimizerState, CountsTheStateItHasStillToAllocate) {
  const std::size_t n = 1000;
  const std::pair<const char*, std::size_t> buffers[] = {
      {"sgd", 0},      {"momentum", 1}, {"adam", 2},    {"adam:amsgrad=true", 3},
      {"adamw", 2},    {"adagrad", 1},  {"rmsprop", 1}, {"rmsprop:centered=true,momentum=0.5", 3},
      {"adadelta", 2}, {"adamax", 2},   {"nadam", 2},   {"radam", 2},
  };
  for (const auto& [spec, count] : buffers) {
    auto optimizer = make_optimizer(spec);
    EXPECT_EQ(optimizer->unprepared_floats(n), count * n) << spec;
    optimizer->prepare(n);
    EXPECT_EQ(optimizer->unprepared_floats(n), 0u) << spec;
    optimizer->reset();  // zeroes the buffers, keeps them
    EXPECT_EQ(optimizer->unprepared_floats(n), 0u) << spec;
    // A count no network has is refused before anything is allocated.
    auto fresh = make_optimizer(spec);
    EXPECT_THROW(fresh->prepare(kMaxParameters + 1), Error) << spec;
    EXPECT_THROW(fresh->prepare(SIZE_MAX), Error) << spec;
  }
}

TEST(OptimizerState, RefusesScalarsOutOfRange) {
  AlignedBuffer<float> a(8), b(8);
  for (double mu : {-0.5, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    const auto state = MadeUpState("nadam", [&](StateVisitor& v) {
                         double m = mu;
                         v.scalar("mu_product", m);
                         v.buffer("exp_avg", a);
                         v.buffer("exp_avg_sq", b);
                       }).save_state();
    auto nadam = make_optimizer("nadam");
    EXPECT_NE(test::error_message([&] { nadam->load_state(state); }).find("mu_product"),
              std::string::npos)
        << mu;
    EXPECT_EQ(nadam->steps(), 0u);
  }
}

// A saved rate past float's range (the bytes made up, with a valid checksum) is refused
// before any field is applied: the step count and buffers stay as they were.
TEST(OptimizerState, ARateOutOfRangeIsRefusedBeforeAnythingChanges) {
  std::vector<float> p(10, 1.0f), g(10, 0.5f);
  auto source = make_optimizer("sgd:lr=0.1,momentum=0.9");
  source->step(p, g);
  source->step(p, g);
  std::vector<char> state = source->save_state();
  const double rate = 0.1, huge = 1e300;
  const auto at = std::search(state.begin(), state.end(), reinterpret_cast<const char*>(&rate),
                              reinterpret_cast<const char*>(&rate) + sizeof rate);
  ASSERT_NE(at, state.end());
  std::memcpy(&*at, &huge, sizeof huge);
  const std::size_t body = state.size() - 4;
  const std::uint32_t crc = bytes::crc32(std::span<const char>(state.data(), body));
  std::memcpy(state.data() + body, &crc, 4);

  auto target = make_optimizer("sgd:lr=0.1,momentum=0.9");
  target->step(p, g);
  const std::vector<char> before = target->save_state();
  const std::string error = test::error_message([&] { target->load_state(state); });
  EXPECT_NE(error.find("learning rate 1e+300 is not valid"), std::string::npos) << error;
  EXPECT_EQ(target->save_state(), before);
  EXPECT_EQ(target->steps(), 1u);
}

// NAdam's running product of the momentum factors is a float32 tensor in torch: each product
// rounded to float. Read from the saved state, it is a float after every step.
TEST(Nadam, KeepsItsMomentumProductAsAFloatAsTorchDoes) {
  auto nadam = make_optimizer("nadam:lr=0.01,beta1=0.9999,momentum_decay=100");
  std::vector<float> p(5, 1.0f), g(5, 0.5f);
  const std::string name = "mu_product";
  for (int step = 1; step <= 20; ++step) {
    nadam->step(p, g);
    const std::vector<char> state = nadam->save_state();
    const auto at = std::search(state.begin(), state.end(), name.begin(), name.end());
    ASSERT_NE(at, state.end());
    double mu_product = 0.0;
    std::memcpy(&mu_product, &*(at + static_cast<std::ptrdiff_t>(name.size())), sizeof mu_product);
    EXPECT_EQ(mu_product, static_cast<double>(static_cast<float>(mu_product))) << "step " << step;
    EXPECT_GT(mu_product, 0.0);
    EXPECT_LT(mu_product, 1.0);
  }
}

// torch.optim keeps its state in float32: a gradient of 3e19 makes the accumulated square
// (9e38, past FLT_MAX) infinite and the step 0. So on every ISA, the scalar reference (which
// works in double, and is the only kernel of a build for another CPU) included; it took the
// step in full before it read its state back as stored.
TEST(BuiltinOptimizers, ASquaredGradientPastFloatTakesNoStepAsInPyTorch) {
  const Isa previous = active_isa();
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (const char* spec :
         {"adagrad", "adam:lr=0.01,beta1=0,beta2=0.5", "adamw:beta2=0.5,weight_decay=0",
          "rmsprop:alpha=0.5", "rmsprop:alpha=0.5,centered=true,momentum=0.9", "adadelta:rho=0.5",
          "nadam:beta2=0.5"}) {
      auto optimizer = make_optimizer(spec);
      std::vector<float> p(19, 0.5f), g(19, 3e19f);  // 19: whole vectors and a tail
      optimizer->step(p, g);
      for (std::size_t i = 0; i < p.size(); ++i)
        EXPECT_EQ(p[i], 0.5f) << spec << " on " << to_string(isa) << ", parameter " << i;
    }
  }
  set_isa(previous);
}

TEST(OptimizerState, ResetStartsOver) {
  for (const char* spec :
       {"sgd:momentum=0.9", "adagrad:initial_accumulator_value=0.1", "rmsprop:centered=true",
        "adam", "nadam", "radam", "adamax", "adadelta"}) {
    SCOPED_TRACE(spec);
    auto opt = make_optimizer(spec);
    std::vector<float> first = test::random_floats(100, 3), second = first;
    run(*opt, first, 0, 5);
    run(*opt, second, 50, 3);  // some unrelated history
    opt->reset();
    EXPECT_EQ(opt->steps(), 0u);
    second = test::random_floats(100, 3);
    run(*opt, second, 0, 5);
    EXPECT_EQ(first, second);
  }
}

}  // namespace
}  // namespace descent
