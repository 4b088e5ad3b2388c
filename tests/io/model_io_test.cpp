#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "descent/error.hpp"
#include "descent/io.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

Network sample_network() {
  Network net(3, {{5, Activation::tanh}, {4, Activation::relu}, {2, Activation::identity}});
  net.initialize(Init::pytorch, 12);
  net.set_standardization({{1.0f, 2.0f, 3.0f}, {0.5f, 1.0f, 2.0f}});
  return net;
}

TEST(ModelFile, RoundTripsExactly) {
  test::TempDir dir;
  const Network net = sample_network();
  save_network(dir / "m.bin", net, Loss::cross_entropy);
  const LoadedModel loaded = load_model(dir / "m.bin");
  const Network& back = loaded.network;
  EXPECT_EQ(loaded.loss, Loss::cross_entropy);
  EXPECT_EQ(back.inputs(), 3u);
  ASSERT_EQ(back.layers().size(), 3u);
  for (std::size_t l = 0; l < 3; ++l) {
    EXPECT_EQ(back.layers()[l].outputs, net.layers()[l].outputs);
    EXPECT_EQ(back.layers()[l].activation, net.layers()[l].activation);
  }
  ASSERT_EQ(back.parameter_count(), net.parameter_count());
  EXPECT_EQ(0, std::memcmp(back.parameters().data(), net.parameters().data(),
                           net.parameter_count() * sizeof(float)));
  EXPECT_EQ(back.standardization().mean, net.standardization().mean);
  EXPECT_EQ(back.standardization().stddev, net.standardization().stddev);
  save_network(dir / "plain.bin", Network::mlp(2, {}, 1));
  EXPECT_FALSE(load_model(dir / "plain.bin").loss.has_value());
}

TEST(ModelFile, RejectsEveryTruncation) {
  test::TempDir dir;
  save_network(dir / "m.bin", sample_network());
  const std::string bytes = test::read_text(dir / "m.bin");
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THROW(parse_model(std::span<const char>(bytes.data(), size), "m.bin"), Error)
        << "truncated to " << size;
  }
}

TEST(ModelFile, RejectsEverySingleByteCorruption) {
  test::TempDir dir;
  save_network(dir / "m.bin", sample_network());
  std::string bytes = test::read_text(dir / "m.bin");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(bytes[i] ^ 0x20);
    EXPECT_THROW(parse_model(bytes, "m.bin"), Error) << "byte " << i;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x20);
  }
  EXPECT_NO_THROW(parse_model(bytes, "m.bin"));
  bytes += "x";
  EXPECT_THROW(parse_model(bytes, "m.bin"), Error);
}

TEST(ModelFile, ErrorsSayWhatIsWrong) {
  test::TempDir dir;
  test::write_text(dir / "text.bin", "epoch,step\n1,2\n");
  try {
    load_network(dir / "text.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a descent model file"), std::string::npos);
  }
  EXPECT_THROW(load_network(dir / "missing.bin"), Error);
  EXPECT_THROW(load_network(dir.path()), Error);
}

// The file with one little-endian field replaced and the checksum made valid again, so that
// the structural checks, not the CRC, must catch it.
std::string patched(std::string bytes, std::size_t offset, const void* value, std::size_t size) {
  std::memcpy(bytes.data() + offset, value, size);
  const auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  return bytes;
}

TEST(ModelFile, StructuralChecksCatchWhatAValidChecksumHides) {
  test::TempDir dir;
  // Net(3 -> 5 tanh -> 4 relu -> 2), standardised: the layout is
  // magic 0..8, version 8, loss 12, inputs 16, layers 24, layer records from 32 (16 each),
  // standardisation count at 80, means from 88, stddevs from 100, parameter count at 112.
  save_network(dir / "m.bin", sample_network());
  const std::string bytes = test::read_text(dir / "m.bin");
  ASSERT_NO_THROW(parse_model(patched(bytes, 0, "DESCENTM", 8), "m.bin"));
  const std::uint64_t huge = std::uint64_t{1} << 40, zero = 0, four = 4, many = 5000;
  const std::uint32_t bad_activation = 9, bad_loss = 7, version = 2;
  const float negative = -1.0f, nan = std::nanf("");
  EXPECT_THROW(parse_model(patched(bytes, 8, &version, 4), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 12, &bad_loss, 4), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 16, &huge, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 16, &zero, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 24, &many, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 24, &four, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 32, &huge, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 32, &zero, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 40, &bad_activation, 4), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 80, &huge, 8), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 100, &negative, 4), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 88, &nan, 4), "m.bin"), Error);
  EXPECT_THROW(parse_model(patched(bytes, 112, &huge, 8), "m.bin"), Error);
}

TEST(ParameterFile, RoundTripsInLinearOrderAndChecksItsSize) {
  test::TempDir dir;
  const Network net = sample_network();
  save_parameters(dir / "p.bin", net);
  const std::string bytes = test::read_text(dir / "p.bin");
  ASSERT_EQ(bytes.size(), net.parameter_count() * sizeof(float));
  // The first float is weight[0][0] of the first layer, then the row continues.
  float first = 0.0f;
  std::memcpy(&first, bytes.data(), sizeof first);
  EXPECT_EQ(first, net.parameters()[0]);
  Network other(3, {{5, Activation::tanh}, {4, Activation::relu}, {2, Activation::identity}});
  load_parameters(dir / "p.bin", other);
  EXPECT_EQ(0, std::memcmp(other.parameters().data(), net.parameters().data(), bytes.size()));
  Network wider = Network::mlp(3, {6}, 2);
  EXPECT_THROW(load_parameters(dir / "p.bin", wider), Error);
  EXPECT_THROW(load_parameters(dir / "missing.bin", other), Error);
  std::string with_nan = bytes;
  const float nan = std::nanf("");
  std::memcpy(with_nan.data() + 8, &nan, sizeof nan);
  test::write_text(dir / "nan.bin", with_nan);
  EXPECT_THROW(load_parameters(dir / "nan.bin", other), Error);
}

TEST(AtomicWrite, ADirectoryInTheWayIsAnErrorAndLeavesNoTemporary) {
  test::TempDir dir;
  std::filesystem::create_directory(dir / "taken");
  EXPECT_THROW(save_network(dir / "taken", sample_network()), Error);
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "taken");
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(AtomicWrite, MissingDirectoryIsAnErrorAndLeavesNothing) {
  test::TempDir dir;
  try {
    save_network(dir / "no/such/dir/m.bin", sample_network());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AtomicWrite, ReplacesTheOldFileAndLeavesNoTemporaries) {
  test::TempDir dir;
  test::write_text(dir / "h.csv", "old");
  std::vector<EpochRecord> history(2);
  history[0].epoch = 1;
  history[0].val_loss = std::nan("");
  history[0].val_accuracy = std::nan("");
  history[0].layer_grad_norms = {1.0, 2.0};
  history[0].layer_weight_norms = {3.0, 4.0};
  history[1].epoch = 2;
  history[1].train_loss = 0.25;
  history[1].stop_reason = StopReason::max_epochs;
  write_history_csv(dir / "h.csv", history);
  const std::string text = test::read_text(dir / "h.csv");
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "epoch,step,train_loss,val_loss,val_accuracy,grad_norm,lr,seconds,samples_per_second,"
            "grad_norm_layer1,grad_norm_layer2,weight_norm_layer1,weight_norm_layer2,stop_reason");
  EXPECT_NE(text.find("\n1,0,0,,,0,0,0,0,1,2,3,4,\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n2,0,0.25,0,0,0,0,0,0,,,,,max_epochs\n"), std::string::npos) << text;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  EXPECT_THROW(write_history_csv(dir.path(), history), Error);
}

}  // namespace
}  // namespace descent
