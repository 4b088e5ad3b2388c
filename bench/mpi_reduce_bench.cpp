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
#include <cstdio>
#include <cstdlib>
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

int main(int argc, char** argv) {
  std::size_t steps = 50;
  std::size_t threads = 1;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) {
      steps = static_cast<std::size_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = static_cast<std::size_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(
          stderr,
          "usage: mpirun -np N descent_mpi_bench [--steps N] [--threads T] [--json FILE]\n");
      return 2;
    }
  }
  if (steps == 0) steps = 1;
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
      std::FILE* out = std::fopen(json_path.c_str(), "w");
      if (out == nullptr) throw Error(fmt::format("cannot write {}", json_path));
      std::fputs(json.c_str(), out);
      std::fclose(out);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "descent_mpi_bench: %s\n", e.what());
    mpi::abort(2);
  }
  return 0;
}
