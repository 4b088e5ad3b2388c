// What train, sweep and lr-find set up alike (see setup.hpp).

#include "cli/setup.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string_view>

#include <fmt/format.h>

namespace descent::cli {

std::string shape_of(const Network& net) {
  std::string s = fmt::format("{}", net.inputs());
  for (const DenseLayer& layer : net.layers()) s += fmt::format("-{}", layer.outputs);
  return s;
}

namespace {

// The first 8 bytes of a file (fewer for a shorter one, none for one that cannot be read).
std::string head_of(const std::string& path) {
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
    throw Error(
        fmt::format("cross_entropy needs class labels, but \"{}\" is a regression set", data.name));
  }
  if (data.task == Task::classification && data.classes < 2 && loss != Loss::bce_with_logits) {
    throw Error(fmt::format("{}: classification needs at least 2 classes, every row has class 0",
                            data.name));
  }
  if (data.task != Task::classification) return {loss, data.values.cols()};
  return {loss, loss == Loss::bce_with_logits ? std::size_t{1} : data.classes};
}

std::optional<Init> parse_init_option(const std::string& init) {
  try {
    return parse_init(init);
  } catch (const Error&) {
    // A word that is no file is a misspelt scheme: the scheme's error names the schemes.
    std::error_code ec;
    if (init.find('/') == std::string::npos && init.find('.') == std::string::npos &&
        !std::filesystem::exists(init, ec))
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
