// Networks of several shapes, activations and losses trained for three epochs with several
// optimizers, given PyTorch's initial weights and its fixed batch order: every step's loss
// and the final parameters match PyTorch (float64) within float32 tolerance.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/descent.hpp"
#include "golden.hpp"

namespace descent {
namespace {

class EndToEnd : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EndToEnd, LossesAndFinalWeightsMatchPyTorch) {
  const auto& c = test::golden("e2e.json")["cases"][GetParam()];
  const auto sizes = c["sizes"].get<std::vector<std::size_t>>();
  const Activation act = parse_activation(c["activation"].get<std::string>());
  const Loss loss = parse_loss(c["loss"].get<std::string>());
  std::vector<LayerSpec> layers;
  for (std::size_t i = 1; i < sizes.size(); ++i)
    layers.push_back({sizes[i], i + 1 < sizes.size() ? act : Activation::identity});
  Network net(sizes[0], layers);
  net.set_parameters(c["initial"].get<std::vector<float>>());

  Dataset data;
  data.name = c["name"];
  const auto x = c["x"].get<std::vector<float>>();
  const std::size_t rows = x.size() / sizes[0];
  data.features = Matrix(rows, sizes[0]);
  std::copy(x.begin(), x.end(), data.features.data());
  if (c.contains("labels")) {
    data.task = Task::classification;
    data.labels = c["labels"].get<std::vector<std::uint32_t>>();
    data.classes = loss == Loss::bce_with_logits ? 2 : sizes.back();
  } else {
    data.task = Task::regression;
    const auto values = c["values"].get<std::vector<float>>();
    data.values = Matrix(rows, sizes.back());
    std::copy(values.begin(), values.end(), data.values.data());
  }

  auto optimizer = make_optimizer(c["optimizer"].get<std::string>());
  TrainOptions options;
  options.batch_size = c["batch"];
  options.epochs = c["epochs"];
  options.shuffle = false;
  Trainer trainer(net, *optimizer, loss, options);
  std::vector<double> losses;
  Callbacks callbacks;
  callbacks.on_step = [&](const StepRecord& r) {
    losses.push_back(r.loss);
    return true;
  };
  trainer.fit(data, nullptr, callbacks);

  const auto ref_losses = c["losses"].get<std::vector<double>>();
  ASSERT_EQ(losses.size(), ref_losses.size());
  for (std::size_t i = 0; i < losses.size(); ++i)
    EXPECT_TRUE(test::near_reference(losses[i], ref_losses[i])) << data.name << ", step " << i + 1;
  const auto ref_final = c["final"].get<std::vector<double>>();
  ASSERT_EQ(net.parameter_count(), ref_final.size());
  for (std::size_t i = 0; i < ref_final.size(); ++i)
    EXPECT_TRUE(test::near_reference(net.parameters()[i], ref_final[i]))
        << data.name << ", parameter " << i;
}

INSTANTIATE_TEST_SUITE_P(Torch, EndToEnd,
                         ::testing::Range<std::size_t>(0, test::golden("e2e.json")["cases"].size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param_info) {
                           const std::string name =
                               test::golden("e2e.json")["cases"][param_info.param]["name"];
                           return name;
                         });

}  // namespace
}  // namespace descent
