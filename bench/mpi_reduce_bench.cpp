// descent_mpi_bench: what combining the gradient across ranks costs, against the parameter
// count and the rank count, for both reductions. Run it under mpirun at each rank count
// (bench/mpi_reduce.sh does 1 to N):
//
//   mpirun -np 4 build/release/bench/descent_mpi_bench [--steps N] [--threads T] [--json FILE]
//
// Every case trains a 256-h-h-10 MLP (h sets the parameter count) on one batch of 64 rows
// cut into 8 shards of 8 rows, so the arithmetic is the same at every rank count; the
// trainer's profile times the reduction (everything after the shards' forward and backward:
// the exchange, the tree's additions, the norm) apart from the step. Each rank times its own
// steps; the slowest rank's figures are reported (every rank waits for it).

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "descent/descent.hpp"

namespace {

using namespace descent;

struct Figures {
  double reduce_us = 0.0;  // per step, the slowest rank's
  double step_us = 0.0;
};

// The largest of every rank's value (as integer nanoseconds through the communicator).
double slowest(Communicator& comm, double seconds) {
  std::vector<std::uint64_t> all(comm.size());
  comm.allgather(static_cast<std::uint64_t>(seconds * 1e9), all);
  return static_cast<double>(*std::max_element(all.begin(), all.end())) * 1e-9;
}

Figures measure(const std::shared_ptr<Communicator>& comm, std::size_t hidden, Reduction mode,
                std::size_t steps, const Dataset& data) {
  Network net = Network::mlp(data.feature_count(), {hidden, hidden}, data.classes);
  net.initialize(Init::automatic, 1);
  auto sgd = make_optimizer("sgd:lr=0.01,momentum=0.9");
  TrainOptions options;
  options.shard_rows = 8;
  options.distributed.communicator = comm;
  options.distributed.reduction = mode;
  Trainer trainer(net, *sgd, Loss::cross_entropy, options);
  trainer.reserve(data.rows());
  const Targets targets = data.targets();
  for (int i = 0; i < 3; ++i) trainer.train_step(data.features.view(), targets);  // warm-up
  trainer.set_profiling(true);
  trainer.reset_profile();
  for (std::size_t i = 0; i < steps; ++i) trainer.train_step(data.features.view(), targets);
  const StepProfile& p = trainer.profile();
  Figures f;
  f.reduce_us = slowest(*comm, p.reduce) / static_cast<double>(steps) * 1e6;
  f.step_us = slowest(*comm, p.total()) / static_cast<double>(steps) * 1e6;
  return f;
}

}  // namespace

// A whole number from `least` to `most` for `option`, or nothing (the message printed).
std::optional<std::size_t> parse_count(const char* text, std::string_view option, std::size_t least,
                                       std::size_t most) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || errno == ERANGE || n < least || n > most) {
    std::fprintf(stderr,
                 "descent_mpi_bench: error: %.*s \"%s\" is not a whole number from %zu to %zu\n",
                 static_cast<int>(option.size()), option.data(), text, least, most);
    return std::nullopt;
  }
  return static_cast<std::size_t>(n);
}

int main(int argc, char** argv) {
  std::size_t steps = 50;
  std::size_t threads = 1;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) {
      const auto n = parse_count(argv[++i], arg, 1, 1000000);
      if (!n) return 2;
      steps = *n;
    } else if (arg == "--threads" && i + 1 < argc) {
      const auto n = parse_count(argv[++i], arg, 1, kMaxThreads);
      if (!n) return 2;
      threads = *n;
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(
          stderr,
          "usage: mpirun -np N descent_mpi_bench [--steps N] [--threads T] [--json FILE]\n");
      return 2;
    }
  }
  // The output is checked before the measurement, and written whole or not at all (below).
  if (!json_path.empty()) {
    std::error_code ec;
    const std::filesystem::path path(json_path);
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    if (json_path.back() == '/' || std::filesystem::is_directory(path, ec) ||
        !std::filesystem::is_directory(dir, ec)) {
      std::fprintf(stderr,
                   "descent_mpi_bench: error: --json %s: not a file in an existing directory\n",
                   json_path.c_str());
      return 2;
    }
  }
  // The session outlives the try: a rank that fails must abort the job while MPI runs
  // (finalizing first would wait for the others, who wait for it).
  std::optional<mpi::Session> session;
  try {
    session.emplace();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "descent_mpi_bench: %s\n", e.what());
    return 2;
  }
  try {
    set_threads(threads);  // per rank (default 1)
    const std::shared_ptr<Communicator> world = session->world();
    const bool root = world->rank() == 0;
    const Dataset data = make_synthetic("synthetic:rows=64,features=256,classes=10,seed=1");
    std::string json = "[";
    if (root) {
      fmt::print("{:>10} {:>6} {:>6} {:>12} {:>10} {:>9}\n", "params", "ranks", "mode", "reduce_us",
                 "step_us", "reduce%");
    }
    for (std::size_t hidden : {64, 256, 1024, 2048}) {
      for (Reduction mode : {Reduction::exact, Reduction::fast}) {
        const std::size_t params =
            Network::mlp(data.feature_count(), {hidden, hidden}, data.classes).parameter_count();
        const Figures f = measure(world, hidden, mode, steps, data);
        if (!root) continue;
        fmt::print("{:>10} {:>6} {:>6} {:>12.1f} {:>10.1f} {:>8.1f}%\n", params, world->size(),
                   to_string(mode), f.reduce_us, f.step_us, 100.0 * f.reduce_us / f.step_us);
        json += fmt::format(
            "{}{{\"params\": {}, \"ranks\": {}, \"reduction\": \"{}\", \"reduce_us\": {:.3f}, "
            "\"step_us\": {:.3f}}}",
            json.size() > 1 ? ", " : "", params, world->size(), to_string(mode), f.reduce_us,
            f.step_us);
      }
    }
    json += "]\n";
    if (root && !json_path.empty()) {
      const std::string temporary = json_path + ".partial";
      std::FILE* out = std::fopen(temporary.c_str(), "w");
      if (out == nullptr) throw Error(fmt::format("cannot write {}", json_path));
      const bool written = std::fputs(json.c_str(), out) >= 0;
      if (std::fclose(out) != 0 || !written) {
        std::remove(temporary.c_str());
        throw Error(fmt::format("cannot write {}", json_path));
      }
      std::error_code ec;
      std::filesystem::rename(temporary, json_path, ec);
      if (ec) {
        std::remove(temporary.c_str());
        throw Error(fmt::format("cannot write {}: {}", json_path, ec.message()));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "descent_mpi_bench: %s\n", e.what());
    mpi::abort(2);
  }
  return 0;
}
