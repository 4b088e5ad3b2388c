// The fuzz targets on their committed corpora, in every test run: a valid-* file must be
// accepted and an invalid-* one refused, so a target that returned early could not pass.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "targets.hpp"

namespace descent {
namespace {

using Target = int (*)(const std::uint8_t*, std::size_t);

void run_corpus(const std::string& name, Target target) {
  std::size_t valid = 0, invalid = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(DESCENT_FUZZ_CORPUS) + "/" + name)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int accepted = target(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    const std::string file = entry.path().filename().string();
    if (file.rfind("valid", 0) == 0) {
      EXPECT_EQ(accepted, 1) << name << "/" << file << " should be accepted";
      ++valid;
    } else if (file.rfind("invalid", 0) == 0) {
      EXPECT_EQ(accepted, 0) << name << "/" << file << " should be refused";
      ++invalid;
    }
  }
  EXPECT_GT(valid, 0u) << name;
  EXPECT_GT(invalid, 0u) << name;
}

TEST(FuzzCorpus, Csv) {
  run_corpus("csv", &fuzz::csv);
}
TEST(FuzzCorpus, Model) {
  run_corpus("model", &fuzz::model);
}
TEST(FuzzCorpus, Checkpoint) {
  run_corpus("checkpoint", &fuzz::checkpoint);
}
TEST(FuzzCorpus, Spec) {
  run_corpus("spec", &fuzz::spec);
}
TEST(FuzzCorpus, Idx) {
  run_corpus("idx", &fuzz::idx);
}

}  // namespace
}  // namespace descent
