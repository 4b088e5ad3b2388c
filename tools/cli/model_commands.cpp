// descent predict and descent evaluate: a saved model on new data.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/setup.hpp"
#include "descent/descent.hpp"

namespace descent::cli {
namespace {

struct ModelArgs {
  std::string model;
  std::string data;
  std::string out;
  std::string loss;  // overrides (or supplies) the loss the model file records
  bool json = false;
};

// --loss if given (a warning on stderr when it is not the loss the model was trained with),
// else the model's.
std::optional<Loss> chosen_loss(const LoadedModel& model, const ModelArgs& args) {
  if (args.loss.empty()) return model.loss;
  const Loss loss = parse_loss(args.loss);
  if (model.loss && *model.loss != loss) {
    fmt::print(stderr, "descent: warning: --loss {}: the model in {} was trained with {}\n",
               to_string(loss), args.model, to_string(*model.loss));
  }
  // A softmax over one output is 1 for every row: class 0 whatever the input. Said here, before
  // the data's labels (which such a model could only call out of range) are read.
  if (loss == Loss::cross_entropy && model.network.outputs() < 2) {
    throw Error(
        fmt::format("--loss cross_entropy: the model in {} has one output; cross_entropy "
                    "needs at least 2 (one per class)",
                    args.model));
  }
  return loss;
}

Loss model_loss(const LoadedModel& model, const ModelArgs& args) {
  if (!args.loss.empty()) return *chosen_loss(model, args);
  if (!model.loss) {
    throw Error(
        fmt::format("{} does not record the loss it was trained with: give --loss", args.model));
  }
  return *model.loss;
}

// The data's features for the model. A CSV (by path, or a bundled set's by name) may have
// every column a feature, or a last (target) column more; a set of another kind (IDX images, a
// system set, synthetic data) gives its features.
Dataset features_for(const Network& net, const std::string& data) {
  auto checked = [&](Dataset d) {
    if (d.feature_count() != net.inputs()) {
      throw Error(fmt::format("\"{}\" has {} feature{}; the model takes {}", data,
                              d.feature_count(), d.feature_count() == 1 ? "" : "s", net.inputs()));
    }
    return d;
  };
  const std::vector<std::filesystem::path> files = dataset_files(data);
  std::error_code ec;
  if (files.size() == 2 && !std::filesystem::exists(files[1], ec) &&
      std::filesystem::exists(files[0], ec)) {
    // IDX images without their labels file: nothing to evaluate, but images to predict.
    Dataset d;
    d.name = data;
    d.features = load_idx_images(files[0]);
    return checked(std::move(d));
  }
  // load_dataset names what is wrong with a name that names nothing.
  if (files.size() != 1) return checked(load_dataset(data));
  return load_csv_features(files.front(), net.inputs());
}

int run_predict(const ModelArgs& args) {
  if (!args.out.empty()) {
    check_output_path(args.out, "--out");
    std::vector<std::pair<const char*, std::string>> inputs = {{"--model", args.model}};
    for (const std::filesystem::path& file : dataset_files(args.data))
      inputs.emplace_back("--data", file.string());
    for (const auto& [option, input] : inputs)
      if (same_file(args.out, input))
        throw Error(fmt::format("--out and {} name the same file {}: it would be overwritten",
                                option, args.out));
  }
  const LoadedModel model = load_any_model(args.model);
  const std::optional<Loss> loss = chosen_loss(model, args);
  const Dataset data = features_for(model.network, args.data);
  const Matrix out = model.network.predict(data.features.view());
  const std::size_t outputs = model.network.outputs();
  // A NaN or infinite output (an input far outside what the model saw) is no prediction.
  for (std::size_t i = 0; i < out.rows(); ++i) {
    for (std::size_t j = 0; j < outputs; ++j) {
      if (!std::isfinite(out(i, j))) {
        throw Error(
            fmt::format("{}: row {}: the model's output {} is {} (an input far outside "
                        "the range it was trained on?); nothing was written",
                        args.data, i + 1, j + 1, out(i, j)));
      }
    }
  }

  std::string text;
  if (loss == Loss::cross_entropy) {
    text = "prediction";
    for (std::size_t j = 0; j < outputs; ++j) text += fmt::format(",p{}", j);
    text += '\n';
    std::vector<double> p(outputs);
    for (std::size_t i = 0; i < out.rows(); ++i) {
      const float* z = out.row(i);
      const double m = *std::max_element(z, z + outputs);
      double sum = 0.0;
      for (std::size_t j = 0; j < outputs; ++j) sum += p[j] = std::exp(z[j] - m);
      text += fmt::format("{}", std::max_element(z, z + outputs) - z);
      for (std::size_t j = 0; j < outputs; ++j) text += fmt::format(",{:.6g}", p[j] / sum);
      text += '\n';
    }
  } else if (loss == Loss::bce_with_logits) {
    // One independent yes/no per output (multi-label with more than one): the label and the
    // sigmoid's probability, as prediction,probability or prediction_j,probability_j.
    for (std::size_t j = 0; j < outputs; ++j) {
      const std::string suffix = outputs == 1 ? std::string() : fmt::format("_{}", j + 1);
      text += fmt::format("{}prediction{},probability{}", j == 0 ? "" : ",", suffix, suffix);
    }
    text += '\n';
    for (std::size_t i = 0; i < out.rows(); ++i) {
      for (std::size_t j = 0; j < outputs; ++j) {
        const double probability = 1.0 / (1.0 + std::exp(-static_cast<double>(out(i, j))));
        text +=
            fmt::format("{}{},{:.6g}", j == 0 ? "" : ",", probability > 0.5 ? 1 : 0, probability);
      }
      text += '\n';
    }
  } else {
    const std::string name = loss == Loss::mse ? "prediction" : "output";
    for (std::size_t j = 0; j < outputs; ++j)
      text += fmt::format("{}{}{}", j == 0 ? "" : ",", name,
                          outputs == 1 ? std::string() : fmt::format("_{}", j + 1));
    text += '\n';
    for (std::size_t i = 0; i < out.rows(); ++i) {
      for (std::size_t j = 0; j < outputs; ++j)
        text += fmt::format("{}{:.9g}", j == 0 ? "" : ",", out(i, j));
      text += '\n';
    }
  }
  if (args.out.empty()) {
    fmt::print("{}", text);
  } else {
    try {
      write_file_atomically(args.out, std::span<const char>(text.data(), text.size()));
    } catch (const Error& e) {
      throw Error(fmt::format("--out: {}", e.what()));  // named as train names --save
    }
    fmt::print(stderr, "descent: wrote {} predictions to {}\n", out.rows(), args.out);
  }
  return 0;
}

// Whether `data` is a CSV of the model's features alone (what predict takes): evaluate would
// read its last feature as the target.
bool features_only(const Network& net, const std::string& data) {
  const std::vector<std::filesystem::path> files = dataset_files(data);
  if (files.size() != 1) return false;
  try {
    return load_csv_columns(files.front(), TaskHint::regression, false).feature_count() ==
           net.inputs();
  } catch (const Error&) {
    return false;
  }
}

// The labelled data for evaluate, with the reason a features-only CSV cannot be.
Dataset labelled_data(const Network& net, const std::string& data, TaskHint hint) {
  const Error no_target(fmt::format(
      "{} has the model's {} features and no target column: evaluate compares the outputs with "
      "a target in one more, last column (predict takes the features alone)",
      data, net.inputs()));
  Dataset d;
  try {
    d = load_dataset(data, hint);
  } catch (const Error&) {
    if (features_only(net, data)) throw no_target;
    throw;
  }
  if (d.feature_count() + 1 == net.inputs() && features_only(net, data)) throw no_target;
  return d;
}

int run_evaluate(const ModelArgs& args) {
  const LoadedModel model = load_any_model(args.model);
  const Loss loss = model_loss(model, args);
  const TaskHint hint = loss == Loss::mse ? TaskHint::regression : TaskHint::classification;
  const Dataset data = labelled_data(model.network, args.data, hint);
  const ModelEvaluation e = evaluate_model(model.network, loss, data);
  if (!std::isfinite(e.mean_loss)) {
    throw Error(
        fmt::format("{}: the {} loss is {}: the model's outputs are not finite on some "
                    "rows (inputs far outside the range it was trained on?)",
                    args.data, to_string(loss), number_text(e.mean_loss)));
  }
  auto number = [](double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  };
  if (args.json) {
    nlohmann::json out = {{"rows", e.rows},
                          {"loss", std::string(to_string(loss))},
                          {"mean_loss", number(e.mean_loss)}};
    if (loss == Loss::mse) {
      out["mse"] = number(e.mse);
      out["mae"] = number(e.mae);
      out["r2"] = number(e.r2);
    } else {
      out["accuracy"] = number(e.accuracy);
      out["confusion"] =
          e.confusion.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.confusion);
    }
    fmt::print("{}\n", json_text(out));
    return 0;
  }
  fmt::print("evaluated {} on {} ({} rows)\n", args.model, data.name, e.rows);
  fmt::print("  {} loss  {:.6g}\n", to_string(loss), e.mean_loss);
  if (loss == Loss::mse) {
    fmt::print("  mse        {:.6g}\n  mae        {:.6g}\n  r2         {:.6g}\n", e.mse, e.mae,
               e.r2);
    return 0;
  }
  fmt::print("  accuracy   {:.4f}\n", e.accuracy);
  const std::size_t k = e.confusion.size();
  // A table wider than a terminal helps nobody: beyond kMaxPrinted classes, --json has it.
  constexpr std::size_t kMaxPrinted = 30;
  if (k == 0 || k > kMaxPrinted) {
    fmt::print("  confusion  {}\n",
               k == 0 ? fmt::format("not computed for more than {} classes", kMaxConfusionClasses)
                      : fmt::format("{} classes, too many to print: --json has the matrix", k));
    return 0;
  }
  fmt::print("  confusion (rows: true class, columns: predicted)\n");
  std::size_t width = 3;
  for (const auto& row : e.confusion)
    for (std::size_t c : row) width = std::max(width, fmt::formatted_size("{}", c));
  fmt::print("  {:>{}}", "", 4);
  for (std::size_t j = 0; j < k; ++j) fmt::print(" {:>{}}", j, width);
  fmt::print("\n");
  for (std::size_t i = 0; i < k; ++i) {
    fmt::print("  {:>{}}", i, 4);
    for (std::size_t j = 0; j < k; ++j) fmt::print(" {:>{}}", e.confusion[i][j], width);
    fmt::print("\n");
  }
  return 0;
}

CLI::App* add_model_options(CLI::App* cmd, ModelArgs& args) {
  cmd->add_option("--model", args.model,
                  "A model file written by descent train --save, or a checkpoint (--checkpoint: "
                  "the weights it was written with)")
      ->required();
  cmd->add_option("--data", args.data,
                  "A CSV file (.csv or .csv.gz), a bundled set's name, a system set "
                  "(fashion-mnist-test), an IDX images file or synthetic:...")
      ->required();
  cmd->add_option("--loss", args.loss,
                  "mse, cross_entropy or bce_with_logits (default: the one the model records)");
  return cmd;
}

}  // namespace

Command add_predict_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  CLI::App* cmd = add_model_options(
      app.add_subcommand("predict", "Predict with a saved model (standardisation applied)"), *args);
  cmd->add_option("--out", args->out, "Write the predictions to this CSV file (default: stdout)");
  return Command{cmd, [args] { return run_predict(*args); }};
}

Command add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  CLI::App* cmd = add_model_options(
      app.add_subcommand("evaluate",
                         "Loss and accuracy with a confusion matrix (classification), or MSE, "
                         "MAE and R^2 (regression), of a saved model on labelled data"),
      *args);
  cmd->add_flag("--json", args->json, "Print one JSON object");
  return Command{cmd, [args] { return run_evaluate(*args); }};
}

}  // namespace descent::cli
