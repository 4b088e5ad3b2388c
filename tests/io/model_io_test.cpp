#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Whatever a Network can hold, save_network writes and load_model reads back: the reader
// once refused more than 4096 layers (and layers past 2^26 units) as corrupted.
TEST(ModelFile, ReadsBackEveryNetworkItWrites) {
  test::TempDir dir;
  const Network deep = Network::mlp(2, std::vector<std::size_t>(5000, 1), 3);
  save_network(dir / "deep.bin", deep, Loss::mse);
  const LoadedModel loaded = load_model(dir / "deep.bin");
  EXPECT_EQ(loaded.network.layers().size(), 5001u);
  EXPECT_EQ(loaded.network.parameter_count(), deep.parameter_count());
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

// A read that fails part way (EIO: /proc/self/mem's unmapped first page) is a descent::Error
// naming the file, not the std::ios_base::failure libstdc++'s filebuf throws.
TEST(ModelFile, AFailedReadIsAnErrorNamingTheFile) {
  const std::string message = test::error_message([] { (void)load_network("/proc/self/mem"); });
  // (Where the kernel refuses to open it, "cannot open" says so instead.)
  EXPECT_NE(message.find("model file \"/proc/self/mem\""), std::string::npos) << message;
}

// A NUL in a file name would have the system take the name up to it: another file than the
// one named, read or overwritten. Refused, naming it readably; nothing is written.
TEST(ModelFile, ANameWithANulIsRefusedForReadingAndWriting) {
  test::TempDir dir;
  const Network net = Network::mlp(2, {3}, 2, Activation::relu);
  Network net_copy = net;
  const std::string real = (dir / "m.bin").string();
  const std::string with_nul = real + std::string("\0evil", 5);
  const std::string saving = test::error_message([&] { save_network(with_nul, net); });
  EXPECT_NE(saving.find("cannot write \""), std::string::npos) << saving;
  EXPECT_NE(saving.find("m.bin\\x00evil\": the name holds a NUL character"), std::string::npos)
      << saving;
  EXPECT_FALSE(std::filesystem::exists(real));
  save_network(real, net);
  const std::string loading = test::error_message([&] { (void)load_network(with_nul); });
  EXPECT_NE(loading.find("m.bin\\x00evil\": the name holds a NUL character"), std::string::npos)
      << loading;
  test::write_text(dir / "d.csv", "a,y\n1,2\n");
  const std::string csv = test::error_message(
      [&] { (void)load_csv((dir / "d.csv").string() + std::string("\0x", 2)); });
  EXPECT_NE(csv.find("the name holds a NUL character"), std::string::npos) << csv;
  test::write_text(dir / "p.bin", "");
  const std::string raw = test::error_message(
      [&] { load_parameters((dir / "p.bin").string() + std::string("\0x", 2), net_copy); });
  EXPECT_NE(raw.find("p.bin\\x00x\": the name holds a NUL character"), std::string::npos) << raw;
  // A loss that is none of descent's is not saved as "no loss".
  EXPECT_EQ(test::error_message([&] { save_network(real, net, static_cast<Loss>(9)); }),
            "cannot save the model: loss 9 is not one descent has");
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
  // Parameters from 120: 3 x 5 + 5 for layer 1, so parameter 20 is layer 2's first weight.
  // A NaN there, with a checksum to match, is a model that computes nothing.
  try {
    (void)parse_model(patched(bytes, 120 + 20 * 4, &nan, 4), "m.bin");
    ADD_FAILURE() << "a NaN parameter was loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 20 (layer 2) is nan"), std::string::npos)
        << e.what();
  }
  // Cross-entropy over one output: every prediction would be class 0 with probability 1.
  // Not saved, and not loaded from a file that says so (the loss tag at 12 patched).
  Network single(3, {{1, Activation::identity}});
  EXPECT_THROW(save_network(dir / "one.bin", single, Loss::cross_entropy), Error);
  save_network(dir / "one.bin", single, Loss::mse);
  const std::string one = test::read_text(dir / "one.bin");
  EXPECT_NO_THROW(parse_model(one, "one.bin"));
  const std::uint32_t cross_entropy = 2;
  EXPECT_THROW(parse_model(patched(one, 12, &cross_entropy, 4), "one.bin"), Error);
}

TEST(ModelFile, ANetworkWithANonFiniteParameterIsNotSaved) {
  test::TempDir dir;
  Network net = sample_network();
  net.parameters()[53] = std::numeric_limits<float>::infinity();
  try {
    save_network(dir / "m.bin", net);
    ADD_FAILURE() << "saved";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 53 (layer 3) is inf"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
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

std::span<const char> chars(const std::string& s) {
  return {s.data(), s.size()};
}

std::size_t entries(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

TEST(AtomicWrite, FollowsASymbolicLinkAndKeepsIt) {
  test::TempDir dir;
  std::filesystem::create_directory(dir / "real");
  test::write_text(dir / "real" / "m.model", "old");
  std::filesystem::create_symlink("real/m.model", dir / "link");
  std::filesystem::create_symlink(dir / "link", dir / "link2");  // a chain, absolute
  write_file_atomically(dir / "link2", chars("new"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "link"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "link2"));
  EXPECT_EQ(test::read_text(dir / "real" / "m.model"), "new");
  EXPECT_EQ(entries(dir / "real"), 1u);  // no temporary left beside the file
  // A link to a file not there yet: the file is created where the link points.
  std::filesystem::create_symlink("real/fresh.csv", dir / "dangling");
  write_file_atomically(dir / "dangling", chars("x"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "dangling"));
  EXPECT_EQ(test::read_text(dir / "real" / "fresh.csv"), "x");
  // A loop of links is an error, not a hang.
  std::filesystem::create_symlink("loop_b", dir / "loop_a");
  std::filesystem::create_symlink("loop_a", dir / "loop_b");
  EXPECT_THROW(write_file_atomically(dir / "loop_a", chars("x")), Error);
}

TEST(AtomicWrite, DescriptorNamesWriteToTheDescriptorAsItIs) {
  // /dev/fd/N (like /dev/stdout under `>> log`): appended through the descriptor, in place;
  // reopening the name would start at offset 0, renaming would replace the file.
  test::TempDir dir;
  const auto log = dir / "log.txt";
  test::write_text(log, "first\n");
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  struct stat before {};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  write_file_atomically("/dev/fd/" + std::to_string(fd), chars("second\n"));
  write_file_atomically("/proc/self/fd/" + std::to_string(fd), chars("third\n"));
  ::close(fd);
  EXPECT_EQ(test::read_text(log), "first\nsecond\nthird\n");
  struct stat after {};
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(AtomicWrite, ALinkIsCheckedWhereItLeadsBeforeAnyWork) {
  test::TempDir dir;
  // A link into a missing directory: check_output_file says so up front, as the write would.
  std::filesystem::create_symlink("gone/m.model", dir / "dangling");
  try {
    check_output_file(dir / "dangling");
    ADD_FAILURE() << "a link into a missing directory passed the check";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_file_atomically(dir / "dangling", chars("x")), Error);
  // In a sticky, world-writable directory (as /tmp), a link another user owns is not
  // followed, as the kernel would not: it could aim a root process's write at any file.
  // Only root can give a link another owner.
  if (::geteuid() == 0) {
    std::filesystem::create_directory(dir / "shared");
    ASSERT_EQ(::chmod((dir / "shared").c_str(), 01777), 0);
    test::write_text(dir / "victim", "keep");
    std::filesystem::create_symlink(dir / "victim", dir / "shared" / "m.model");
    ASSERT_EQ(::lchown((dir / "shared" / "m.model").c_str(), 65534, 65534), 0);
    EXPECT_THROW(check_output_file(dir / "shared" / "m.model"), Error);
    EXPECT_THROW(write_file_atomically(dir / "shared" / "m.model", chars("x")), Error);
    EXPECT_EQ(test::read_text(dir / "victim"), "keep");
    // The same link owned by this user is followed.
    ASSERT_EQ(::lchown((dir / "shared" / "m.model").c_str(), 0, 0), 0);
    write_file_atomically(dir / "shared" / "m.model", chars("new"));
    EXPECT_EQ(test::read_text(dir / "victim"), "new");
  }
}

TEST(AtomicWrite, AReplacedFileKeepsItsPermissions) {
  test::TempDir dir;
  const auto path = dir / "secret.model";
  test::write_text(path, "old");
  // 0604: no umask gives a new file that mode, so only a kept mode passes.
  ASSERT_EQ(::chmod(path.c_str(), 0604), 0);
  write_file_atomically(path, chars("new"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(test::read_text(path), "new");
}

TEST(AtomicWrite, AReadOnlyFileIsRefusedByTheCheckBeforeTheWork) {
  test::TempDir dir;
  const auto path = dir / "kept.model";
  test::write_text(path, "old");
  // 0444: the directory would let the rename replace it, and root passes access checks.
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  std::filesystem::create_symlink(path, dir / "link");
  for (const auto& name : {path, dir / "link"}) {
    try {
      check_output_file(name);
      ADD_FAILURE() << "a read-only file passed the check: " << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is read-only (mode 0444)"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(test::read_text(path), "old");
  // The write itself replaces it: a run's own checkpoint is made read-only under a umask such
  // as 0277, and the next epoch's write must replace it.
  write_file_atomically(path, chars("new"));
  EXPECT_EQ(test::read_text(path), "new");
}

TEST(AtomicWrite, DevicesAndPipesAreWrittenInPlaceNotReplaced) {
  // /dev/null stays a device (a rename over it would make it an ordinary file).
  write_file_atomically("/dev/null", chars("discarded"));
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  // A full device is a failed write, named as such.
  if (::access("/dev/full", W_OK) == 0) {
    try {
      write_file_atomically("/dev/full", chars("x"));
      ADD_FAILURE() << "writing /dev/full succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("write failed"), std::string::npos) << e.what();
    }
    ASSERT_EQ(::stat("/dev/full", &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
  }
  test::TempDir dir;
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Nobody reads the pipe: refused at once, and the pipe is still a pipe.
  try {
    write_file_atomically(fifo, chars("x"));
    ADD_FAILURE() << "writing a pipe nobody reads succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no process is reading"), std::string::npos) << e.what();
  }
  // With a reader, the bytes go through the pipe.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  write_file_atomically(fifo, chars("through"));
  char buffer[16] = {};
  EXPECT_EQ(::read(reader, buffer, sizeof buffer), 7);
  ::close(reader);
  EXPECT_EQ(std::string(buffer), "through");
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(entries(dir.path()), 1u);
}

}  // namespace
}  // namespace descent
