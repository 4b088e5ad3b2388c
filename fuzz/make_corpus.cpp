// Writes the seed corpora under fuzz/corpus/: valid inputs each reader accepts and invalid
// ones it must refuse. Run from the repository root after a build:
//   build/release/fuzz/descent_make_fuzz_corpus fuzz/corpus
// The files are committed; tests/fuzz_corpus_test.cpp runs every one through its target.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "descent/descent.hpp"
#include "train/run.hpp"

namespace descent::fuzz {
RunFingerprint corpus_fingerprint();
}

namespace {

void write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace descent;
  if (argc != 2) {
    std::fprintf(stderr, "usage: descent_make_fuzz_corpus CORPUS_DIR\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  for (const char* t : {"csv", "model", "checkpoint", "spec", "idx"})
    std::filesystem::create_directories(root / t);

  // CSV
  write(root / "csv/valid-classes.csv", "a,b,label\n1,2,0\n3,4.5,1\n-1,1e2,1\n5,6,0\n");
  write(root / "csv/valid-regression.csv", "x,y\n1,0.5\n2,1.5\n3,-2.25\n");
  write(root / "csv/valid-crlf.csv", "a , y\r\n\r\n 1 , 0\r\n2,1\r\n");
  write(root / "csv/invalid-ragged.csv", "a,b,y\n1,2,0\n3,4\n");
  write(root / "csv/invalid-nan.csv", "a,y\nnan,0\n1,1\n");
  write(root / "csv/invalid-header-only.csv", "a,b,y\n");
  write(root / "csv/invalid-empty.csv", "");

  // Model
  Network net = Network::mlp(4, {8}, 3);
  net.initialize(Init::automatic, 1);
  net.set_standardization({{1, 2, 3, 4}, {1, 1, 2, 2}});
  const std::vector<char> model = model_bytes(net, Loss::cross_entropy);
  write(root / "model/valid-4-8-3.model", std::string(model.begin(), model.end()));
  write(root / "model/invalid-truncated.model", std::string(model.begin(), model.begin() + 60));
  write(root / "model/invalid-text.model", "epoch,step\n1,2\n");

  // Checkpoint, for the run fuzz/checkpoint_fuzz.cpp expects.
  auto adam = make_optimizer("adam");
  std::vector<float> g(net.parameter_count(), 0.01f);
  adam->step(net.parameters(), g);
  auto cosine = make_schedule("cosine:T_max=10", adam->lr());
  cosine->step();
  Trainer::Run run;
  run.epoch = 1;
  run.shuffle_rng.reseed(3);
  run.initial_loss = 1.1;
  run.first_grad_norms = {0.5, 0.25};
  run.warned_vanishing = {0, 0};
  run.warned_exploding = {0, 0};
  EpochRecord e;
  e.epoch = 1;
  e.step = 8;
  e.train_loss = 1.0;
  e.layer_grad_norms = {0.5, 0.25};
  e.layer_weight_norms = {2.0, 1.0};
  run.history.push_back(e);
  const auto path = root / "checkpoint/valid-4-8-3-adam-cosine.ckpt";
  write_checkpoint(path, net, Loss::cross_entropy, *adam, cosine.get(), fuzz::corpus_fingerprint(),
                   8, run);
  // The same run stopped by max_steps inside its second epoch, with the weights before its
  // last update.
  Trainer::Run partial = run;
  partial.stopped = StopReason::max_steps;
  partial.stop_message = "took the 10 steps asked for";
  partial.partial = true;
  partial.epoch_rng = run.shuffle_rng.state();
  partial.epoch_first = 32;
  partial.epoch_loss_sum = 30.0;
  partial.last_good.resize(net.parameter_count());
  partial.have_last_good = true;
  e.epoch = 2;
  e.step = 10;
  e.stop_reason = StopReason::max_steps;
  partial.history.push_back(e);
  write_checkpoint(root / "checkpoint/valid-partial-epoch.ckpt", net, Loss::cross_entropy, *adam,
                   cosine.get(), fuzz::corpus_fingerprint(), 10, partial);
  const std::string ckpt = read(path);
  write(root / "checkpoint/invalid-truncated.ckpt", ckpt.substr(0, ckpt.size() / 2));
  std::string flipped = ckpt;
  flipped[ckpt.size() / 3] = static_cast<char>(flipped[ckpt.size() / 3] ^ 0x55);
  write(root / "checkpoint/invalid-damaged.ckpt", flipped);

  // Specs
  write(root / "spec/valid-adam", "adam:lr=1e-3,beta2=0.99,amsgrad=true");
  write(root / "spec/valid-nesterov", "sgd:lr=0.1,momentum=0.9,nesterov=true,weight_decay=1e-4");
  write(root / "spec/valid-multistep", "multistep:milestones=[2,5,5],gamma=0.5");
  write(root / "spec/valid-cosine-warmup", "cosine:T_max=10,eta_min=1e-4,warmup_iters=3");
  write(root / "spec/valid-plateau", "plateau:mode=max,factor=0.5,patience=1,threshold_mode=abs");
  write(root / "spec/valid-onecycle", "onecycle:max_lr=0.5,total_steps=100,pct_start=0.25");
  write(root / "spec/invalid-beta", "adam:beta1=2");
  write(root / "spec/invalid-list", "multistep:milestones=[1,");
  write(root / "spec/invalid-name", "adamx:lr=1");
  // IDX: a first byte that cuts the rest where the images end, then images and labels.
  auto idx_input = [](const std::string& images, const std::string& labels) {
    const std::size_t rest = images.size() + labels.size();
    for (unsigned b = 0; b < 256; ++b) {
      if (rest * b / 255 == images.size())
        return std::string(1, static_cast<char>(b)) + images + labels;
    }
    return std::string();
  };
  const std::string images("\0\0\x08\x03\0\0\0\x03\0\0\0\x02\0\0\0\x03"
                           "\x00\x01\x02\x03\x04\x05\x0a\x0b\x0c\x0d\x0e\x0f\xff\xfe\xfd\xfc\xfb\xfa",
                           34);
  const std::string labels("\0\0\x08\x01\0\0\0\x03\x02\x00\x01", 11);
  write(root / "idx/valid-3-images-2x3", idx_input(images, labels));
  write(root / "idx/invalid-count-mismatch", idx_input(images, labels.substr(0, 10)));
  std::string floats = images;
  floats[2] = '\x0d';
  write(root / "idx/invalid-float-type", idx_input(floats, labels));
  write(root / "idx/invalid-truncated", idx_input(images.substr(0, 20), labels));
  std::printf("wrote the seed corpora under %s\n", root.c_str());
  return 0;
}
