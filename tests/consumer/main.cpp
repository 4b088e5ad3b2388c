// Trains a few steps and builds every built-in optimizer by name, through the public API
// only. Exit status 0 on success.
#include <cstdio>
#include <string>
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
  return last < first ? 0 : 1;
}
