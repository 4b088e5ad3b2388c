#include <span>

#include "descent/descent.hpp"
#include "targets.hpp"
#include "train/run.hpp"

namespace descent::fuzz {

// The run the seed corpus's checkpoints were written for: a 4-8-3 ReLU network, Adam, a
// cosine schedule, and the fingerprint below. Fuzzing builds skip the checksums, so that
// mutations reach every check behind them.
RunFingerprint corpus_fingerprint() {
  RunFingerprint f;
  f.optimizer = make_optimizer("adam")->spec();
  f.schedule = make_schedule("cosine:T_max=10", 1e-3)->spec();
  f.batch_size = 16;
  f.seed = 1;
  f.loss = static_cast<std::uint32_t>(Loss::cross_entropy);
  f.shuffle = 1;
  f.train_rows = 120;
  f.train_crc = 0x12345678;
  f.validation_rows = 30;
  f.validation_crc = 0x9abcdef0;
  return f;
}

int checkpoint(const std::uint8_t* data, std::size_t size) {
  Network net = Network::mlp(4, {8}, 3);
  auto adam = make_optimizer("adam");
  adam->prepare(net.parameter_count());
  auto cosine = make_schedule("cosine:T_max=10", adam->lr());
  std::size_t steps = 0;
  Trainer::Run run;
  try {
    parse_checkpoint(std::span<const char>(reinterpret_cast<const char*>(data), size),
                     "fuzz.checkpoint", net, Loss::cross_entropy, *adam, cosine.get(),
                     corpus_fingerprint(), steps, run);
    return 1;
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace descent::fuzz

DESCENT_FUZZ_ENTRY(checkpoint)
