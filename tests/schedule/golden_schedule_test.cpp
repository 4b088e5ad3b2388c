// Every schedule, with and without warmup, against torch.optim.lr_scheduler: 120 steps.

#include <gtest/gtest.h>

#include "descent/error.hpp"
#include "descent/schedule.hpp"
#include "golden.hpp"

namespace descent {
namespace {

class GoldenSchedule : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GoldenSchedule, RatesMatchPyTorchStepForStep) {
  const auto& c = test::golden("schedules.json")["cases"][GetParam()];
  const std::string spec = c["spec"];
  const auto lrs = c["lrs"].get<std::vector<double>>();
  ASSERT_GE(lrs.size(), 100u);
  auto schedule = make_schedule(spec, c["base_lr"].get<double>());
  const bool plateau = c.contains("metrics");
  const auto metrics = plateau ? c["metrics"].get<std::vector<double>>() : std::vector<double>{};
  for (std::size_t t = 0; t < lrs.size(); ++t) {
    ASSERT_TRUE(test::near_reference(schedule->lr(), lrs[t])) << spec << " at step " << t;
    if (t + 1 == lrs.size()) break;
    if (plateau) {
      schedule->step(metrics[t]);
    } else {
      schedule->step();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    TorchLrScheduler, GoldenSchedule,
    ::testing::Range<std::size_t>(0, test::golden("schedules.json")["cases"].size()),
    [](const auto& param_info) {
      std::string name = test::golden("schedules.json")["cases"][param_info.param]["spec"];
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name + "_" + std::to_string(param_info.param);
    });

}  // namespace
}  // namespace descent
