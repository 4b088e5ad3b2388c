// ModelObjective: a network's mean loss on data as a function of its parameters.

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/objective.hpp"
#include "train/train_detail.hpp"

namespace descent {

namespace {
// Rows per forward/backward pass; the gradient is accumulated over the passes.
constexpr std::size_t kPassRows = 512;
}  // namespace

struct ModelObjective::State {
  detail::PreparedTargets targets;
  Workspace workspace;
  std::vector<std::size_t> rows;  // selected rows; empty: all
  // A pass's gathered rows (selected rows only).
  Matrix x;
  std::vector<std::uint32_t> labels;
  Matrix values;
};

ModelObjective::ModelObjective(Network& network, const Dataset& data, Loss loss)
    : network_(network), data_(data), loss_(loss) {
  detail::check_data(network, loss, data, "objective");
  if (data.rows() == 0) throw Error(fmt::format("data \"{}\" has no rows", data.name));
  if (loss == Loss::cross_entropy && network.outputs() < 2)
    throw Error("cross_entropy needs a network with at least 2 outputs (one per class)");
  const std::size_t pass = std::min(kPassRows, data.rows());
  state_.reset(new State{detail::prepare_targets(loss, data),
                         Workspace(network, pass),
                         {},
                         Matrix(pass, network.inputs()),
                         std::vector<std::uint32_t>(pass),
                         Matrix(pass, network.outputs())});
  state_->workspace.set_parallel(true);
}

ModelObjective::~ModelObjective() = default;

std::string ModelObjective::name() const {
  std::string shape = fmt::format("{}", network_.inputs());
  for (const DenseLayer& layer : network_.layers()) shape += fmt::format("-{}", layer.outputs);
  return fmt::format("model {} {} on {}", shape, to_string(loss_), data_.name);
}

std::size_t ModelObjective::dimension() const {
  return network_.parameter_count();
}

std::vector<double> ModelObjective::initial_point() const {
  const auto p = network_.parameters();
  return std::vector<double>(p.begin(), p.end());
}

void ModelObjective::select_rows(std::span<const std::size_t> rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= data_.rows()) {
      throw Error(fmt::format("select_rows: row {} (entry {}) is past the {} rows of \"{}\"",
                              rows[i], i, data_.rows(), data_.name));
    }
  }
  state_->rows.assign(rows.begin(), rows.end());
}

double ModelObjective::value_and_gradient(std::span<const float> x, std::span<float> grad) {
  const std::size_t n = dimension();
  if (x.size() != n || grad.size() != n) {
    throw Error(fmt::format("{}: a point has {} coordinates, got {} (gradient {})", name(), n,
                            x.size(), grad.size()));
  }
  State& s = *state_;
  network_.set_parameters(x);
  const bool selected = !s.rows.empty();
  const std::size_t rows = selected ? s.rows.size() : data_.rows();
  const auto scale =
      static_cast<float>(1.0 / static_cast<double>(loss_divisor(loss_, rows, network_.outputs())));
  const Targets& all = s.targets.view;
  const ConstMatrixView features = data_.features.view();
  double loss = 0.0;
  for (std::size_t done = 0; done < rows; done += kPassRows) {
    const std::size_t count = std::min(kPassRows, rows - done);
    ConstMatrixView xs;
    Targets ts;
    if (selected) {
      const detail::Batch batch = detail::gather_rows(
          features, all, std::span<const std::size_t>(s.rows).subspan(done, count), s.x, s.labels,
          s.values);
      xs = batch.x;
      ts = batch.targets;
    } else {
      xs = features.rows_range(done, count);
      ts = detail::slice(all, done, count);
    }
    const ConstMatrixView out = network_.forward(xs, s.workspace);
    const MatrixView g = s.workspace.output_gradient(count);
    loss += loss_sum(loss_, out, ts, scale, &g);
    network_.backward(xs, s.workspace, grad, done > 0);
  }
  return loss / static_cast<double>(loss_divisor(loss_, rows, network_.outputs()));
}

}  // namespace descent
