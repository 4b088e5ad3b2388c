// Trains a few steps and builds every built-in optimizer by name, through the public API
// only. Exit status 0 on success.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <descent/descent.hpp>

int main() {
  // Every built-in optimizer by name: a registry filled by static initializers in object
  // files a static link may drop would fail here.
  const std::vector<std::pair<std::string, std::string>> builtins = {
      {"sgd", "sgd"},         {"momentum", "sgd"},  {"nesterov", "sgd"},     {"adagrad", "adagrad"},
      {"rmsprop", "rmsprop"}, {"adam", "adam"},     {"adamw", "adamw"},      {"nadam", "nadam"},
      {"radam", "radam"},     {"adamax", "adamax"}, {"adadelta", "adadelta"}};
  for (const auto& [name, kind] : builtins) {
    auto optimizer = descent::make_optimizer(name);
    if (!optimizer || optimizer->name() != kind) {
      std::fprintf(stderr, "optimizer %s could not be built\n", name.c_str());
      return 1;
    }
  }
  descent::Network net = descent::Network::mlp(4, {8}, 3, descent::Activation::relu);
  net.initialize(descent::Init::automatic, 1);
  auto sgd = descent::make_optimizer("sgd:lr=0.2");
  descent::TrainOptions options;
  options.schedule = descent::make_schedule("cosine:T_max=30", sgd->lr());
  descent::Trainer trainer(net, *sgd, descent::Loss::cross_entropy, options);
  descent::Matrix x(6, 4);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 7) / 7.0f - 0.4f;
  const std::uint32_t labels[] = {0, 1, 2, 0, 1, 2};
  const double first = trainer.train_step(x, {labels, {}}).loss;
  double last = first;
  for (int i = 0; i < 30; ++i) last = trainer.train_step(x, {labels, {}}).loss;
  std::printf("consumer: loss %.4f -> %.4f on %s\n", first, last,
              std::string(descent::to_string(descent::active_isa())).c_str());
  if (!(last < first)) return 1;

  // Two ranks of a local group (threads), exact reduction: the same parameters as one
  // process, and the MPI entry points link (available or not).
  const descent::Dataset data = descent::make_synthetic("synthetic:rows=120,features=6,classes=3");
  auto train_on = [&](std::shared_ptr<descent::Communicator> comm) {
    descent::Network n = descent::Network::mlp(6, {8}, 3);
    auto opt = descent::make_optimizer("adam:lr=0.01");
    descent::TrainOptions o;
    o.batch_size = 16;
    o.shard_rows = 4;
    o.epochs = 2;
    o.init = descent::Init::automatic;
    o.distributed.communicator = std::move(comm);
    descent::train(n, data, *opt, o);
    const auto p = n.parameters();
    return std::vector<float>(p.begin(), p.end());
  };
  const std::vector<float> alone = train_on(nullptr);
  auto group = descent::make_local_group(2);
  std::vector<float> ranked[2];
  std::thread other([&] { ranked[1] = train_on(group[1]); });
  ranked[0] = train_on(group[0]);
  other.join();
  std::printf("consumer: 2 local ranks %s one process (MPI %s)\n",
              ranked[0] == alone && ranked[1] == alone ? "match" : "DIFFER FROM",
              descent::mpi::available() ? "built in" : "not built");
  return ranked[0] == alone && ranked[1] == alone ? 0 : 1;
}
