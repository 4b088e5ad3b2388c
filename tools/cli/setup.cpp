// What train, sweep and lr-find set up alike (see setup.hpp).

#include "cli/setup.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace descent::cli {

std::string shape_of(const Network& net) {
  std::string s = fmt::format("{}", net.inputs());
  for (const DenseLayer& layer : net.layers()) s += fmt::format("-{}", layer.outputs);
  return s;
}

namespace {

// The first 8 bytes of a file (fewer for a shorter one, none for one that cannot be read or
// is not a regular file: opening a FIFO would wait for a writer, and reading a pipe would wait
// for its end; the loader that follows names what is wrong).
std::string head_of(const std::string& path) {
  if (!why_not_a_regular_file(path).empty()) return {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  char magic[8] = {};
  const std::size_t n = std::fread(magic, 1, sizeof magic, f);
  std::fclose(f);
  return std::string(magic, n);
}

}  // namespace

bool is_model_file(const std::string& path) {
  const std::string head = head_of(path);
  return head == "DESCENTM" || is_checkpoint(head);
}

LoadedModel load_any_model(const std::string& path) {
  return is_checkpoint(head_of(path)) ? load_checkpoint_model(path) : load_model(path);
}

LossChoice choose_loss(const Dataset& data, const std::string& loss_option) {
  const Loss loss = loss_option == "auto" ? default_loss(data) : parse_loss(loss_option);
  // (Class labels trained with mse are refused by the library, in its words.) Numeric targets
  // with cross_entropy would build a network of one output, refused for that instead.
  if (loss == Loss::cross_entropy && data.task == Task::regression) {
    throw Error(fmt::format(
        "cross_entropy needs class labels, but \"{}\" was read as a regression set (numeric "
        "targets; --task classification reads whole-number targets as classes)",
        data.name));
  }
  if (data.task == Task::classification && data.classes < 2 && loss != Loss::bce_with_logits) {
    throw Error(fmt::format("{}: classification needs at least 2 classes, every row has class 0",
                            data.name));
  }
  if (data.task != Task::classification) return {loss, data.values.cols()};
  return {loss, loss == Loss::bce_with_logits ? std::size_t{1} : data.classes};
}

std::vector<std::string> data_warnings(const Dataset& data, TaskHint hint) {
  std::vector<std::string> warnings;
  if (data.task == Task::classification) {
    std::vector<std::size_t> rows(data.classes, 0);
    for (const std::uint32_t label : data.labels) ++rows[label];
    std::vector<std::size_t> empty;
    for (std::size_t c = 0; c < rows.size(); ++c)
      if (rows[c] == 0) empty.push_back(c);
    if (!empty.empty()) {
      const std::size_t shown = std::min<std::size_t>(empty.size(), 5);
      warnings.push_back(fmt::format(
          "\"{}\": class{} {}{} ha{} no rows; classes are the labels 0..{}, one output each{}",
          data.name, empty.size() == 1 ? "" : "es",
          fmt::join(empty.begin(), empty.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
          empty.size() > shown ? fmt::format(" and {} more", empty.size() - shown) : "",
          empty.size() == 1 ? "s" : "ve", data.classes - 1,
          empty.front() == 0 ? " (labels that start at 1 leave class 0 empty)" : ""));
    }
  } else if (hint == TaskHint::automatic && data.values.cols() == 1 && data.rows() > 0) {
    const float first = data.values(0, 0);
    std::optional<float> second;
    bool two = true;
    for (std::size_t i = 1; i < data.rows() && two; ++i) {
      const float v = data.values(i, 0);
      if (v == first) continue;
      if (!second) second = v;
      two = v == *second;
    }
    const float low = second ? std::min(first, *second) : first;
    const float high = second ? std::max(first, *second) : first;
    if (two && second && low == 0.0f && high == 1.0f) {
      // Exactly 0 and 1 would have been read as classes: some value only rounds to one of them
      // (1e-50, 1.00000001).
      warnings.push_back(fmt::format(
          "\"{}\": the target has two values only as 32-bit floats, 0 and 1, but not every one "
          "is written 0 or 1, so it was read as numbers (regression); for two classes, write "
          "the labels as 0 and 1",
          data.name));
    } else if (two && second) {
      warnings.push_back(fmt::format(
          "\"{}\": the target has two values only, {} and {}, read as numbers (regression); "
          "two classes are labelled 0 and 1",
          data.name, low, high));
    }
  }
  return warnings;
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) fmt::print(stderr, "descent: warning: {}\n", w);
}

std::optional<Init> parse_init_option(const std::string& init) {
  try {
    return parse_init(init);
  } catch (const Error&) {
    // A word that is no file is a misspelt scheme: the scheme's error names the schemes.
    std::error_code ec;
    if (init.find('/') == std::string::npos && init.find('.') == std::string::npos &&
        !std::filesystem::exists(std::filesystem::symlink_status(init, ec)))
      throw;
  }
  return std::nullopt;
}

namespace {

std::string describe(const Network& net) {
  const std::span<const DenseLayer> layers = net.layers();
  std::string s = shape_of(net);
  if (layers.size() > 1) s += fmt::format(" {}", to_string(layers.front().activation));
  return s;
}

bool same_architecture(const Network& a, const Network& b) {
  if (a.inputs() != b.inputs() || a.layers().size() != b.layers().size()) return false;
  for (std::size_t i = 0; i < a.layers().size(); ++i) {
    const DenseLayer &x = a.layers()[i], &y = b.layers()[i];
    if (x.outputs != y.outputs || x.activation != y.activation) return false;
  }
  return true;
}

}  // namespace

void init_from_file(const std::string& path, bool resuming, bool no_standardize, Network& network,
                    TrainOptions& options) {
  if (!is_model_file(path)) {
    if (!resuming) load_parameters(path, network);
    return;
  }
  const LoadedModel model = load_any_model(path);
  if (!same_architecture(model.network, network)) {
    // What to change: the data for the inputs, the loss or the classes for the outputs, the
    // hidden layers' options for the rest.
    const std::string remedy =
        model.network.inputs() != network.inputs()
            ? fmt::format("the data has {} features, the model takes {}", network.inputs(),
                          model.network.inputs())
        : model.network.outputs() != network.outputs()
            ? fmt::format(
                  "the model has {} outputs{}: give the data and --loss it was trained "
                  "with",
                  model.network.outputs(),
                  model.loss ? fmt::format(" ({})", to_string(*model.loss)) : "")
            : std::string("give --hidden and --activation to match");
    throw Error(fmt::format("--init {}: the model is {}, and this run's network {} ({})", path,
                            describe(model.network), describe(network), remedy));
  }
  if (no_standardize) {
    throw Error(fmt::format(
        "--no-standardize: the model in --init {} brings its own standardisation", path));
  }
  options.standardization = model.network.standardization();
  if (!resuming) {
    const std::span<const float> from = model.network.parameters();
    std::copy(from.begin(), from.end(), network.parameters().begin());
  }
}

}  // namespace descent::cli
