#pragma once
// What gradient descent minimises: a function of a point that gives its value and gradient.
// Analytic test functions (the seeds' pictures: a parabola, bowls, valleys, local minima and
// saddles) and a network's loss on data (ModelObjective) are both Objectives, and minimize()
// is the one loop that descends on any of them, with the trainer's stop criteria.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/data.hpp"
#include "descent/loss.hpp"
#include "descent/network.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"
#include "descent/train.hpp"

namespace descent {

class Objective {
 public:
  virtual ~Objective() = default;

  // What it is, e.g. "rosenbrock" or "quadratic:condition=10,dim=2".
  virtual std::string name() const = 0;
  // The number of coordinates of a point.
  virtual std::size_t dimension() const = 0;
  // f(x), with its gradient written to grad (both spans dimension() long). The value is
  // computed in double; points and gradients are float32, as parameters are.
  virtual double value_and_gradient(std::span<const float> x, std::span<float> grad) = 0;
  // f(x) alone. The default computes the gradient too and drops it.
  virtual double value(std::span<const float> x);

  // The points where it is smallest, and its smallest value, where they are known: a
  // function with several global minima lists them all; one with none (the saddle) lists
  // nothing. Test suites check optimizers against these.
  virtual std::vector<std::vector<double>> minimizers() const { return {}; }
  virtual std::optional<double> minimum() const { return std::nullopt; }
  // Minima that are not global, where there are few and they are known (double_well's).
  virtual std::vector<std::vector<double>> local_minimizers() const { return {}; }
  // A point that makes a good start for showing the function's character.
  virtual std::vector<double> initial_point() const { return std::vector<double>(dimension()); }
  // The box worth drawing, per coordinate {low, high} (plots of 1-D and 2-D functions).
  virtual std::vector<std::pair<double, double>> domain() const;
};

// The analytic objectives by spec (name[:key=value,...]):
//   parabola         J(w) = (w - 3)^2, the single-weight example (minimum 0 at w = 3)
//   quadratic        an n-D bowl 1/2 sum_i c_i x_i^2 with curvatures c_i spread evenly in log
//                    from 1 to `condition` (keys dim = 2, condition = 10, scale = 1: every
//                    curvature times scale, so the largest, L, is scale * condition)
//   rosenbrock       sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (dim = 2; minimum 0 at 1...1)
//   double_well      w^4 - 3 w^2 + w: a local minimum near 1.13 beside the global one near -1.30
//   himmelblau       (x^2 + y - 11)^2 + (x + y^2 - 7)^2: four global minima (value 0)
//   saddle           x^2 - y^2: no minimum; a saddle point at the origin
//   beale            minimum 0 at (3, 0.5)
//   booth            (x + 2y - 7)^2 + (2x + y - 5)^2, minimum 0 at (1, 3)
//   rastrigin        10 n + sum (x_i^2 - 10 cos 2 pi x_i): many local minima (dim = 2; 0 at 0)
//   ackley           the 2-D Ackley function: many local minima, minimum 0 at the origin
// Throws descent::Error for an unknown name or key, or an invalid value, naming it.
std::unique_ptr<Objective> make_objective(std::string_view spec);
// Every name make_objective knows.
std::vector<std::string> objective_names();

// A network's mean loss on a data set as a function of its flat parameters (nn.Linear
// layout): the objective training minimises. value_and_gradient() sets the network's
// parameters to x, then runs forward and backward over the selected rows (all of them unless
// select_rows() chose a batch). Inputs are used as given (standardise them first).
class ModelObjective : public Objective {
 public:
  // Keeps references to network and data; both must outlive it. Throws descent::Error when
  // the data does not fit the network or the loss.
  ModelObjective(Network& network, const Dataset& data, Loss loss);
  ModelObjective(Network& network, Dataset&& data, Loss loss) = delete;  // it would dangle
  ~ModelObjective() override;
  ModelObjective(const ModelObjective&) = delete;
  ModelObjective& operator=(const ModelObjective&) = delete;

  std::string name() const override;
  std::size_t dimension() const override;
  double value_and_gradient(std::span<const float> x, std::span<float> grad) override;
  std::vector<double> initial_point() const override;

  // The rows the next evaluations use (indices into the data; empty: every row). Throws
  // descent::Error for an index past the data.
  void select_rows(std::span<const std::size_t> rows);

 private:
  struct State;
  Network& network_;
  const Dataset& data_;
  Loss loss_;
  std::unique_ptr<State> state_;
};

// One point of a descent: the point before step `step` (step 0 is the start), its value and
// gradient norm, and the learning rate the step used.
struct TracePoint {
  std::size_t step = 0;
  std::vector<float> point;
  double value = 0.0;
  double grad_norm = 0.0;
  double lr = 0.0;
};

struct MinimizeOptions {
  // The trainer's stop criteria, read per step: max_steps (default here 1000; 0 means no
  // limit, which then needs another criterion), max_seconds, grad_tolerance (converged),
  // target_loss (the value at or below it: target_reached), plateau_tolerance with
  // plateau_patience (in steps) and divergence_factor (a value above factor x max(|first|, 1),
  // or a non-finite value or gradient: diverged). target_accuracy and early stopping need
  // validation data: an objective has none, so setting them is an Error.
  StopCriteria stop = [] {
    StopCriteria s;
    s.max_steps = 1000;
    return s;
  }();
  // Sets the optimizer's rate before every step (stepped once per step); none keeps it.
  std::shared_ptr<Schedule> schedule;
  double clip_norm = 0.0;   // as TrainOptions
  double clip_value = 0.0;  // as TrainOptions
  // Keep every point in MinimizeResult::trajectory. minimize throws descent::Error, before
  // the first step where max_steps bounds the run, when the points would not fit in memory.
  bool record_trajectory = true;
  // Called after every step with the new point's record; return false to stop (callback).
  std::function<bool(const TracePoint&)> on_step;
};

struct MinimizeResult {
  std::vector<float> point;  // where it stopped (the last finite point when it diverged)
  double value = 0.0;
  double grad_norm = 0.0;
  StopReason stop_reason = StopReason::max_steps;
  std::string stop_message;  // the reason in a sentence
  std::size_t steps = 0;     // optimizer steps taken
  double seconds = 0.0;
  std::vector<TracePoint> trajectory;  // start and every step's point, when recorded
};

// Gradient descent on `objective` from `start` (dimension() values) with `optimizer`:
//   repeat: g = grad f(x); stop if a criterion is met; clip g; x <- optimizer.step(x, g).
// Throws descent::Error for a start of the wrong size or with a non-finite value, or an
// option that cannot apply.
MinimizeResult minimize(Objective& objective, Optimizer& optimizer, std::span<const float> start,
                        const MinimizeOptions& options = {});

}  // namespace descent
