#pragma once
// A learning-rate range test (Smith, "Cyclical Learning Rates", 2017; fastai's lr_find): train
// on mini-batches while the rate grows exponentially from a tiny value to a large one, watch
// the loss, and suggest the rate where it falls fastest. Stops when the loss explodes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "descent/data.hpp"
#include "descent/loss.hpp"
#include "descent/network.hpp"
#include "descent/optimizer.hpp"

namespace descent {

// The most steps lr_find takes (a point of the curve is kept for each).
inline constexpr std::size_t kMaxLrFindSteps = 100'000'000;

struct LrFindOptions {
  double start_lr = 1e-7;
  double end_lr = 10.0;
  std::size_t steps = 100;      // mini-batches, 2 to kMaxLrFindSteps; rate i is
                                // start * (end / start)^(i / (steps - 1))
  std::size_t batch_size = 32;  // 0: the whole data set
  std::uint64_t seed = 0;       // the shuffled order of the rows
  std::size_t threads = 0;      // 0: descent::threads()
  // The loss's exponential moving average (bias-corrected): 0.9 weighs about the last ten
  // batches, so the curve lags the rate by little over a test of a hundred steps.
  double smoothing = 0.9;
  // Stop when the smoothed loss exceeds this times its lowest value so far (or is not finite).
  double explode_factor = 4.0;
};

struct LrFindPoint {
  std::size_t step = 0;  // 0-based
  double lr = 0.0;
  double loss = 0.0;           // the batch's loss before its update
  double smoothed_loss = 0.0;  // the bias-corrected moving average up to this step
};

struct LrFindResult {
  std::vector<LrFindPoint> points;
  double suggested_lr = 0.0;  // where the smoothed loss falls fastest against log(lr)
  double min_loss_lr = 0.0;   // where the smoothed loss is lowest
  // Whether the smoothed loss fell anywhere before its lowest point, past the first tenth of
  // the steps. When it did not (the loss rose from the first rates on: a model already
  // trained, or rates that start too high), there is no rate to suggest, and suggested_lr is
  // min_loss_lr.
  bool fell = false;
  bool exploded = false;  // stopped because the loss exploded (else ran every step)
};

// Runs the test on a copy of the network's parameters: the network is left as it was, and
// the optimizer is reset. Inputs are used as given (standardise them first). Throws
// descent::Error for invalid options, or data that does not fit the network or the loss.
LrFindResult lr_find(Network& network, const Dataset& data, Optimizer& optimizer, Loss loss,
                     const LrFindOptions& options = {});

}  // namespace descent
