// descent: the command-line tool. Exit status 0 for a finished run whatever its stop reason,
// 2 for bad input or options, or output that could not be written (with the message on
// stderr), 1 for an internal failure, 128 + N for a train run stopped by signal N (130 for
// Ctrl-C) after it wrote what it trained.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/interrupt.hpp"
#include "cli/options.hpp"
#include "descent/error.hpp"
#include "descent/kernels.hpp"

namespace {

// An option given an empty value (--save "", --lr=) is an error, not the option left out:
// CLI11 stores the empty string, which the commands would take for "not given".
void check_no_empty_values(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    for (const CLI::Option* option : sub->get_options()) {
      if (option->get_type_size_max() == 0) continue;  // a flag
      for (const std::string& value : option->results()) {
        if (value.empty()) {
          throw descent::Error(
              fmt::format("{} {}: the value is empty", sub->get_name(), option->get_name()));
        }
      }
    }
  }
}

// CLI11 reads `--save=` as the option with no value and takes the next argument for it
// (`--save= --quiet` saved to a file named --quiet): refused before parsing, as `--save ""` is
// after it.
void check_no_empty_assignments(int argc, char** argv) {
  const std::string sub = argc > 1 && argv[1][0] != '-' ? std::string(argv[1]) + " " : "";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;  // what follows is not an option
    if (arg.size() > 3 && arg.substr(0, 2) == "--" && arg.find('=') == arg.size() - 1) {
      throw descent::Error(
          fmt::format("{}{}: the value is empty", sub, arg.substr(0, arg.size() - 1)));
    }
  }
}

// Standard output that could not be written (a full disk, a closed descriptor) loses what the
// command printed: predictions, --json, a report. Said once, with exit status 2.
bool stdout_reported = false;

int stdout_failed(int error) {
  stdout_reported = true;
  fmt::print(stderr, "descent: error: cannot write to standard output{}\n",
             error != 0 ? fmt::format(": {}", std::strerror(error)) : std::string());
  return 2;
}

// Output waits in stdio's buffer, so a write that fails may fail only here, at the end.
int finish_stdout(int status) {
  if (stdout_reported) return status;
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) != 0;
  if (!failed) return status;
  const int error = errno;
  const int code = stdout_failed(error);
  return status == 0 ? code : status;
}

int run(int argc, char** argv) {
  descent::cli::install_signal_handlers();
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
    // A first word that is neither an option nor a subcommand: name it (CLI11 would only say
    // that a subcommand is required).
    if (argc > 1 && argv[1][0] != '-') {
      const CLI::App& top = app;
      const auto subs = top.get_subcommands([](const CLI::App*) { return true; });
      std::string names;
      bool known = false;
      for (const CLI::App* sub : subs) {
        names += fmt::format("{}{}", names.empty() ? "" : ", ", sub->get_name());
        known = known || sub->get_name() == argv[1];
      }
      if (!known) {
        throw descent::Error(
            fmt::format("unknown subcommand \"{}\": use one of {}", argv[1], names));
      }
    }
    check_no_empty_assignments(argc, argv);
    app.parse(argc, argv);
    check_no_empty_values(app);
    for (const auto& command : commands)
      if (command.app->parsed()) return command.run();
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // The subcommand the error is in (CLI11 marks it parsed as it reads its options).
    std::string sub;
    const CLI::App* sub_app = nullptr;
    for (const auto& command : commands) {
      if (command.app->parsed()) {
        sub = command.app->get_name();
        sub_app = command.app;
      }
    }
    // CLI11 says "--epochs: At Most 1 required but received 2" for an option given twice,
    // under the option's first name: one with two (sweep's --max-epochs, --epochs) is named
    // by both, as either may be the one typed.
    const std::string what = e.what();
    const std::string twice = ": At Most 1 required but received ";
    if (const auto at = what.find(twice); at != std::string::npos) {
      std::string name = what.substr(0, at);
      const bool list =
          sub == "sweep" && (name == "--lr" || name == "--batch" || name == "--threads");
      if (const CLI::Option* option =
              sub_app != nullptr ? sub_app->get_option_no_throw(name) : nullptr;
          option != nullptr && option->get_lnames().size() > 1) {
        name.clear();
        for (const std::string& long_name : option->get_lnames())
          name += (name.empty() ? "--" : " or --") + long_name;
      }
      fmt::print(stderr, "descent: {} is given {} times: give it once{}\n", name,
                 what.substr(at + twice.size()),
                 list ? " (its lists are comma-separated: --lr 0.1,0.01)" : "");
    } else {
      fmt::print(stderr, "descent: {}\n", what);
    }
    if (sub.empty()) {
      fmt::print(stderr,
                 "Run 'descent --help' for the commands, 'descent COMMAND --help' for "
                 "their options.\n");
    } else {
      fmt::print(stderr, "Run 'descent --help' or 'descent {} --help' for the options.\n", sub);
    }
    return 2;
  } catch (const descent::Error& e) {
    fmt::print(stderr, "descent: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr,
               "descent: error: out of memory: the model or the data is too large for "
               "this machine\n");
    return 2;
  } catch (const std::system_error& e) {
    // fmt::print throws this when a write to stdout fails once its buffer is full.
    if (std::ferror(stdout) != 0) return stdout_failed(e.code().value());
    fmt::print(stderr, "descent: internal error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "descent: internal error: {}\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int status = finish_stdout(run(argc, argv));
  if (status != 0) descent::cli::remove_empty_output_dirs();  // no empty --out of a failed run
  return status;
}
