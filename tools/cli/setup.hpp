#pragma once
// What train, sweep and lr-find set up alike: the loss and the network's outputs for a data
// set, and the initial weights an --init option names.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent::cli {

// "784-256-10": the inputs, then each layer's outputs.
std::string shape_of(const Network& net);
// Whether `path` starts as a model file (descent train --save) or a checkpoint
// (--checkpoint) does.
bool is_model_file(const std::string& path);
// The model in a model file, or in a checkpoint (its weights when it was written).
LoadedModel load_any_model(const std::string& path);

// --loss (auto: the data's default) and the outputs a network needs for it on `data`, or a
// descent::Error where that loss cannot train on that data (cross_entropy on numeric
// targets, one class without bce_with_logits).
struct LossChoice {
  Loss loss;
  std::size_t outputs;
};
LossChoice choose_loss(const Dataset& data, const std::string& loss_option);

// What the automatic reading of the target may have got wrong, for a warning: classes with
// no rows (labels 1..K make class 0 empty, and the network one output too many), or numeric
// targets of two values only (-1 and 1 are read as numbers, not as two classes).
std::vector<std::string> data_warnings(const Dataset& data, TaskHint hint);
// Prints each of `warnings` on stderr as "descent: warning: ...".
void print_warnings(const std::vector<std::string>& warnings);

// --init: an initialisation scheme's name, or nullopt for a file (a model file from
// descent train --save, or flat float32 parameters from tools/torch_convert.py). A name that
// is neither a scheme nor an existing file is refused with the schemes' names.
std::optional<Init> parse_init_option(const std::string& init);

// Loads the --init file `path` into `network` (of the architecture the options built). A
// model file must have that architecture and brings its standardisation into `options`
// (refused with `no_standardize`); `resuming` keeps the weights (a checkpoint brings them) but
// still takes the model's standardisation.
void init_from_file(const std::string& path, bool resuming, bool no_standardize, Network& network,
                    TrainOptions& options);

}  // namespace descent::cli
