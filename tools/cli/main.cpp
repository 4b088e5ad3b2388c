// descent: the command-line tool. Exit status 0 for a finished run whatever its stop reason,
// 2 for bad input or options (with the message on stderr), 1 for an internal failure.

#include <cstdio>
#include <exception>
#include <new>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "descent/error.hpp"
#include "descent/kernels.hpp"

int main(int argc, char** argv) {
  CLI::App app{"descent: train models by gradient descent on the CPU", "descent"};
  app.set_version_flag("--version", "descent 0.1.0");
  app.require_subcommand(1);
  std::vector<descent::cli::Command> commands;
  commands.push_back(descent::cli::add_train_command(app));
  commands.push_back(descent::cli::add_predict_command(app));
  commands.push_back(descent::cli::add_evaluate_command(app));
  commands.push_back(descent::cli::add_sweep_command(app));
  commands.push_back(descent::cli::add_trace_command(app));
  commands.push_back(descent::cli::add_lr_demo_command(app));
  commands.push_back(descent::cli::add_lr_find_command(app));
  app.add_subcommand("isa", "Print the instruction set the kernels run on")->callback([] {
    fmt::print("{}\n", descent::to_string(descent::active_isa()));
  });

  try {
    app.parse(argc, argv);
    for (const auto& command : commands)
      if (command.app->parsed()) return command.run();
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "descent: {}\n", e.what());
    fmt::print(stderr, "Run 'descent --help' or 'descent train --help' for the options.\n");
    return 2;
  } catch (const descent::Error& e) {
    fmt::print(stderr, "descent: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr,
               "descent: error: out of memory: the model or the data is too large for "
               "this machine\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "descent: internal error: {}\n", e.what());
    return 1;
  }
}
