#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/optimizer.hpp"
#include "descent/spec.hpp"
#include "descent/train.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

TEST(Spec, ParsesNameKeysNumbersBooleansAndLists) {
  const Spec s = Spec::parse("multistep: milestones=[20, 50,80] ,gamma=0.3,flag=true", "schedule");
  EXPECT_EQ(s.name, "multistep");
  ASSERT_EQ(s.options.size(), 3u);
  SpecReader r(s, "schedule");
  EXPECT_EQ(r.numbers("milestones", {}), (std::vector<double>{20, 50, 80}));
  EXPECT_DOUBLE_EQ(r.number("gamma", 1.0), 0.3);
  EXPECT_TRUE(r.boolean("flag", false));
  EXPECT_DOUBLE_EQ(r.number("absent", 4.5), 4.5);
  EXPECT_NO_THROW(r.finish());
  EXPECT_EQ(Spec::parse("sgd", "optimizer").options.size(), 0u);
  // A colon with nothing after it is a mistake (a spec cut short), not "no options".
  try {
    (void)Spec::parse("sgd: ", "optimizer");
    ADD_FAILURE() << "\"sgd: \" was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing after the colon"), std::string::npos) << e.what();
  }
}

TEST(Spec, NumbersInAnyFormStrtodAccepts) {
  const Spec s = Spec::parse("x:a=1e-3,b=.5,c=0x1p-2,d=-2,e=+3.", "optimizer");
  SpecReader r(s, "optimizer");
  EXPECT_DOUBLE_EQ(r.number("a", 0), 1e-3);
  EXPECT_DOUBLE_EQ(r.number("b", 0), 0.5);
  EXPECT_DOUBLE_EQ(r.number("c", 0), 0.25);
  EXPECT_DOUBLE_EQ(r.number("d", 0), -2.0);
  EXPECT_DOUBLE_EQ(r.number("e", 0), 3.0);
}

// Control characters (a NUL would cut the message that quotes the spec) and text far longer
// than any spec are refused, the spec shown readable and cut short.
TEST(Spec, ControlCharactersAndEndlessTextAreRefused) {
  EXPECT_EQ(test::error_message([] { Spec::parse(std::string("sgd:lr=0.1\0x", 12), "optimizer"); }),
            "optimizer spec \"sgd:lr=0.1\\x00x\": character 11 is a control character (\\x00)");
  EXPECT_NE(test::error_message([] {
              Spec::parse("adam:lr=0.1\nbeta1=0.9", "optimizer");
            }).find("character 12 is a control character (\\x0a)"),
            std::string::npos);
  std::string many = "sgd:lr=0.1";
  for (int i = 0; i < 200000; ++i) many += fmt::format(",k{}=1", i);
  const std::string long_message = test::error_message([&] { Spec::parse(many, "optimizer"); });
  EXPECT_NE(long_message.find("characters long, more than the 100000 a spec may be"),
            std::string::npos)
      << long_message.substr(0, 300);
  EXPECT_LT(long_message.size(), 300u);
  // A tab is blank space, as before.
  EXPECT_EQ(Spec::parse("sgd:\tlr=0.1", "optimizer").options.size(), 1u);
}

TEST(Spec, ErrorsNameTheKeyAndTheValue) {
  EXPECT_EQ(test::error_message([] { Spec::parse(":lr=1", "optimizer"); }),
            "optimizer spec \":lr=1\" has no name");
  EXPECT_NE(
      test::error_message([] { Spec::parse("sgd:lr", "optimizer"); }).find("expected key=value"),
      std::string::npos);
  EXPECT_NE(
      test::error_message([] { Spec::parse("sgd:lr=1,lr=2", "optimizer"); }).find("given twice"),
      std::string::npos);
  EXPECT_NE(test::error_message([] { Spec::parse("m:x=[1,2", "schedule"); }).find("unclosed"),
            std::string::npos);
  const Spec s = Spec::parse("sgd:lr=fast,on=yes,l=[1,x]", "optimizer");
  SpecReader r(s, "optimizer");
  EXPECT_EQ(test::error_message([&] { r.number("lr", 0); }),
            "optimizer \"sgd\": lr=fast is not a number");
  EXPECT_EQ(test::error_message([&] { r.boolean("on", false); }),
            "optimizer \"sgd\": on=yes is not a boolean (use true or false)");
  EXPECT_NE(test::error_message([&] { r.numbers("l", {}); }).find("\"x\" is not a number"),
            std::string::npos);
}

TEST(MakeOptimizer, BuildsSgdWithPyTorchsDefault) {
  auto opt = make_optimizer("sgd");
  EXPECT_EQ(opt->name(), "sgd");
  EXPECT_FLOAT_EQ(opt->lr(), 1e-3f);
  EXPECT_FLOAT_EQ(make_optimizer("sgd:lr=0.05")->lr(), 0.05f);
}

TEST(MakeOptimizer, RejectsUnknownNamesKeysAndInvalidValues) {
  EXPECT_NE(test::error_message([] {
              make_optimizer("sgdd");
            }).find("unknown optimizer \"sgdd\" (known: sgd"),
            std::string::npos);
  EXPECT_EQ(test::error_message([] { make_optimizer("sgd:lrr=0.1"); }),
            "optimizer \"sgd\": unknown key \"lrr\" (known keys: lr, momentum, dampening, "
            "weight_decay, nesterov, maximize)");
  EXPECT_EQ(test::error_message([] { make_optimizer("sgd:lr=0"); }),
            "optimizer \"sgd\": lr=0 is invalid: must be > 0");
  EXPECT_EQ(test::error_message([] { make_optimizer("sgd:lr=-1"); }),
            "optimizer \"sgd\": lr=-1 is invalid: must be > 0");
  EXPECT_EQ(test::error_message([] { make_optimizer("sgd:lr=inf"); }),
            "optimizer \"sgd\": lr=inf is not finite");
  EXPECT_THROW(make_optimizer(""), Error);
}

TEST(Sgd, StepIsWMinusLrTimesG) {
  Sgd sgd({.lr = 0.5f});
  std::vector<float> w = {1.0f, 2.0f, 3.0f}, g = {2.0f, -2.0f, 0.0f};
  sgd.step(w, g);
  EXPECT_EQ(w, (std::vector<float>{0.0f, 3.0f, 3.0f}));
  sgd.set_lr(0.25f);
  sgd.step(w, g);
  EXPECT_EQ(w, (std::vector<float>{-0.5f, 3.5f, 3.0f}));
  std::vector<float> short_g = {1.0f};
  EXPECT_THROW(sgd.step(w, short_g), Error);
  EXPECT_THROW(sgd.set_lr(-1.0f), Error);
  EXPECT_THROW(Sgd({.lr = 0.0f}), Error);
}

}  // namespace
}  // namespace descent

// A user's optimizer, from outside the library's namespace: handed over directly or
// registered by name.
namespace user_code {

class SignDescent final : public descent::Optimizer {
 public:
  explicit SignDescent(float lr) : Optimizer(lr) {}
  void step(std::span<float> params, std::span<const float> grads) override {
    for (std::size_t i = 0; i < params.size(); ++i)
      params[i] -= lr() * static_cast<float>((grads[i] > 0.0f) - (grads[i] < 0.0f));
    ++steps;
  }
  std::string_view name() const override { return "sign"; }
  int steps = 0;
};

TEST(PluggableOptimizer, RegisteredByNameFromOutsideTheLibrary) {
  descent::register_optimizer("sign", [](descent::SpecReader& options) {
    const double lr = options.number("lr", 0.01);
    if (!(lr > 0.0)) options.invalid("lr", "must be > 0");
    return std::make_unique<SignDescent>(static_cast<float>(lr));
  });
  auto opt = descent::make_optimizer("sign:lr=0.5");
  EXPECT_EQ(opt->name(), "sign");
  std::vector<float> w = {1.0f, 1.0f}, g = {3.0f, -0.1f};
  opt->step(w, g);
  EXPECT_EQ(w, (std::vector<float>{0.5f, 1.5f}));
  const auto names = descent::optimizer_names();
  EXPECT_EQ(names.front(), "sgd");
  EXPECT_NE(std::find(names.begin(), names.end(), "sign"), names.end());
  EXPECT_THROW(descent::make_optimizer("sign:momentum=1"), descent::Error);
  EXPECT_THROW(descent::register_optimizer("sign", nullptr), descent::Error);
  EXPECT_THROW(descent::register_optimizer(
                   "sgd", [](descent::SpecReader&) { return std::make_unique<SignDescent>(0.1f); }),
               descent::Error);
  EXPECT_THROW(
      descent::register_optimizer(
          "bad:name", [](descent::SpecReader&) { return std::make_unique<SignDescent>(0.1f); }),
      descent::Error);
}

TEST(PluggableOptimizer, HandedToTheTrainerFromOutsideTheLibrary) {
  const descent::Dataset data = descent::load_dataset("iris");
  descent::Network net = descent::Network::mlp(4, {6}, 3);
  SignDescent optimizer(0.01f);
  descent::TrainOptions options;
  options.epochs = 3;
  options.batch_size = 30;
  options.init = descent::Init::automatic;
  const descent::TrainResult result = descent::train(net, data, optimizer, options);
  EXPECT_EQ(optimizer.steps, static_cast<int>(result.steps));
  EXPECT_EQ(result.steps, 12u);  // 120 training rows, batches of 30, 3 epochs
  EXPECT_LT(result.history.back().train_loss, result.history.front().train_loss);
}

}  // namespace user_code
