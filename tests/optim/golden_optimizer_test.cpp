// Every optimizer and flag combination against torch.optim trajectories (25 steps over 37
// parameters, float64 PyTorch), on every ISA this machine has.

#include <gtest/gtest.h>

#include <vector>

#include "descent/kernels.hpp"
#include "descent/optimizer.hpp"
#include "golden.hpp"

namespace descent {
namespace {

class GoldenOptimizer : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GoldenOptimizer, TrajectoryMatchesPyTorch) {
  const auto& c = test::golden("optimizers.json")["cases"][GetParam()];
  const std::string spec = c["spec"];
  const auto initial = c["initial"].get<std::vector<float>>();
  const auto grads = c["grads"].get<std::vector<std::vector<float>>>();
  const auto trajectory = c["trajectory"].get<std::vector<std::vector<double>>>();
  ASSERT_GE(trajectory.size(), 20u);
  const Isa previous = active_isa();
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    auto optimizer = make_optimizer(spec);
    std::vector<float> params = initial;
    for (std::size_t t = 0; t < grads.size(); ++t) {
      optimizer->step(params, grads[t]);
      for (std::size_t i = 0; i < params.size(); ++i) {
        ASSERT_TRUE(test::near_reference(params[i], trajectory[t][i]))
            << spec << " on " << to_string(isa) << ", step " << t + 1 << ", parameter " << i;
      }
    }
  }
  set_isa(previous);
}

INSTANTIATE_TEST_SUITE_P(
    TorchOptim, GoldenOptimizer,
    ::testing::Range<std::size_t>(0, test::golden("optimizers.json")["cases"].size()),
    [](const auto& param_info) {
      std::string name = test::golden("optimizers.json")["cases"][param_info.param]["spec"];
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name + "_" + std::to_string(param_info.param);
    });

}  // namespace
}  // namespace descent
