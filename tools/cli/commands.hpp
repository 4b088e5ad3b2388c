#pragma once

#include <CLI/CLI.hpp>

namespace descent::cli {

// Adds `descent train` to app; the returned function runs it after parsing.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
Command add_train_command(CLI::App& app);
Command add_predict_command(CLI::App& app);
Command add_evaluate_command(CLI::App& app);
Command add_sweep_command(CLI::App& app);
Command add_trace_command(CLI::App& app);
Command add_lr_demo_command(CLI::App& app);
Command add_lr_find_command(CLI::App& app);

}  // namespace descent::cli
