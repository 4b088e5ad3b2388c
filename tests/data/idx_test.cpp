// The IDX reader (MNIST-style files) and the system data sets ("fashion-mnist").

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// An unsigned-byte IDX array with these dimensions and elements.
std::string idx(const std::vector<std::uint32_t>& dims, const std::vector<unsigned char>& values) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (std::uint32_t d : dims) s += be32(d);
  for (unsigned char v : values) s += static_cast<char>(v);
  return s;
}

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
}

// Three 2x3 images, labels 2, 0, 1.
const std::string kImages =
    idx({3, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 255, 254, 253, 252, 251, 250});
const std::string kLabels = idx({3}, {2, 0, 1});

TEST(Idx, ReadsImagesAsRowsOfPixelsAndLabelsAsClasses) {
  const Dataset d = parse_idx(kImages, kLabels, "tiny");
  EXPECT_EQ(d.task, Task::classification);
  ASSERT_EQ(d.rows(), 3u);
  ASSERT_EQ(d.feature_count(), 6u);
  EXPECT_EQ(d.classes, 3u);
  EXPECT_EQ(d.labels, (std::vector<std::uint32_t>{2, 0, 1}));
  EXPECT_EQ(d.features(0, 5), 5.0f);
  EXPECT_EQ(d.features(1, 0), 10.0f);
  EXPECT_EQ(d.features(2, 0), 255.0f);
  EXPECT_EQ(d.features(2, 5), 250.0f);
  EXPECT_EQ(d.feature_names.front(), "pixel_0_0");
  EXPECT_EQ(d.feature_names.back(), "pixel_1_2");
}

// For predictions on unlabelled images: the same features, no labels file needed.
TEST(Idx, ReadsImagesAloneAsTheSameFeatures) {
  const Matrix x = parse_idx_images(kImages, "tiny");
  const Dataset d = parse_idx(kImages, kLabels, "tiny");
  ASSERT_EQ(x.rows(), 3u);
  ASSERT_EQ(x.cols(), 6u);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 6; ++j) EXPECT_EQ(x(i, j), d.features(i, j));
  EXPECT_NE(
      test::error_message([] { parse_idx_images(kLabels, "bad"); }).find("at least 2 dimensions"),
      std::string::npos);
  EXPECT_NE(
      test::error_message([] { parse_idx_images(kImages.substr(0, 20), "bad"); }).find("truncated"),
      std::string::npos);
  test::TempDir dir;
  write_gzip(dir / "t-images-idx3-ubyte.gz", kImages);
  EXPECT_EQ(load_idx_images(dir / "t-images-idx3-ubyte.gz")(2, 5), 250.0f);
  EXPECT_NE(test::error_message([&] { load_idx_images(dir / "none"); }).find("does not exist"),
            std::string::npos);
}

TEST(Idx, RefusesMalformedFilesNamingWhatIsWrong) {
  auto message = [](const std::string& images, const std::string& labels) {
    return test::error_message([&] { parse_idx(images, labels, "bad"); });
  };
  EXPECT_NE(message("", kLabels).find("too few for an IDX header"), std::string::npos);
  EXPECT_NE(message("PK\x03\x04" + kImages.substr(4), kLabels).find("not an IDX file"),
            std::string::npos);
  std::string floats = kImages;
  floats[2] = '\x0D';
  EXPECT_NE(message(floats, kLabels).find("0x0d (float) is not supported"), std::string::npos);
  EXPECT_NE(message(kImages.substr(0, kImages.size() - 1), kLabels).find("truncated"),
            std::string::npos);
  EXPECT_NE(message(kImages + "x", kLabels).find("trailing bytes"), std::string::npos);
  EXPECT_NE(message(kImages, idx({2}, {0, 1})).find("3 images but 2 labels"), std::string::npos);
  EXPECT_NE(message(kLabels, kLabels).find("at least 2 dimensions"), std::string::npos);
  EXPECT_NE(message(kImages, kImages).find("labels need 1 dimension"), std::string::npos);
  EXPECT_NE(message(idx({0, 2}, {}), idx({0}, {})).find("no images"), std::string::npos);
  // Dimensions whose product overflows are refused before anything is allocated.
  std::string huge{'\0', '\0', '\x08', '\x03'};
  huge += be32(0xffffffffu) + be32(0xffffffffu) + be32(0xffffffffu);
  EXPECT_NE(message(huge, kLabels).find("more than"), std::string::npos);
  // The header declares more dimensions than the file holds.
  EXPECT_NE(message(std::string{'\0', '\0', '\x08', '\x09'} + be32(1), kLabels).find("truncated"),
            std::string::npos);
}

TEST(Idx, LoadsGzipAndPlainFilesAndFindsTheLabelsBesideTheImages) {
  const test::TempDir dir;
  write_gzip(dir / "train-images-idx3-ubyte.gz", kImages);
  write_gzip(dir / "train-labels-idx1-ubyte.gz", kLabels);
  test::write_text(dir / "plain-images-idx3-ubyte", kImages);
  test::write_text(dir / "plain-labels-idx1-ubyte", kLabels);
  const Dataset a =
      load_idx(dir / "train-images-idx3-ubyte.gz", dir / "train-labels-idx1-ubyte.gz");
  const Dataset b = load_dataset((dir / "plain-images-idx3-ubyte").string());
  const Dataset c = load_dataset((dir / "train-images-idx3-ubyte.gz").string());
  for (const Dataset* d : {&a, &b, &c}) {
    EXPECT_EQ(d->rows(), 3u);
    EXPECT_EQ(d->labels, (std::vector<std::uint32_t>{2, 0, 1}));
    EXPECT_EQ(d->features(2, 1), 254.0f);
  }
  // A missing labels file, and a truncated gzip stream, are errors naming the file.
  std::filesystem::remove(dir / "plain-labels-idx1-ubyte");
  EXPECT_NE(test::error_message([&] {
              load_dataset((dir / "plain-images-idx3-ubyte").string());
            }).find("plain-labels-idx1-ubyte\" does not exist"),
            std::string::npos);
  // One that is there but no file says so.
  std::filesystem::create_directory(dir / "plain-labels-idx1-ubyte");
  EXPECT_NE(test::error_message([&] {
              load_dataset((dir / "plain-images-idx3-ubyte").string());
            }).find("plain-labels-idx1-ubyte\" is not a regular file"),
            std::string::npos);
  const std::string packed = test::read_text(dir / "train-images-idx3-ubyte.gz");
  test::write_text(dir / "cut-images-idx3-ubyte.gz", packed.substr(0, packed.size() - 6));
  std::filesystem::copy(dir / "train-labels-idx1-ubyte.gz", dir / "cut-labels-idx1-ubyte.gz");
  EXPECT_NE(test::error_message([&] {
              load_dataset((dir / "cut-images-idx3-ubyte.gz").string());
            }).find("truncated or corrupted"),
            std::string::npos);
  EXPECT_THROW(load_dataset((dir / "train-images-idx3-ubyte.gz").string(), TaskHint::regression),
               Error);
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Idx, FashionMnistLoadsFromTheSystemDatasetsFolderOrSaysHowToInstallIt) {
  const test::TempDir dir;
  const ScopedEnv env("DESCENT_DATASETS_DIR", dir.path().string());
  EXPECT_FALSE(system_dataset_available("fashion-mnist"));
  const std::string missing = test::error_message([] { load_dataset("fashion-mnist"); });
  EXPECT_NE(missing.find("apt-get install dataset-fashion-mnist"), std::string::npos) << missing;
  EXPECT_NE(missing.find("fashion_mnist_test"), std::string::npos) << missing;

  std::filesystem::create_directory(dir / "fashion-mnist");
  write_gzip(dir / "fashion-mnist" / "train-images-idx3-ubyte.gz", kImages);
  write_gzip(dir / "fashion-mnist" / "train-labels-idx1-ubyte.gz", kLabels);
  EXPECT_TRUE(system_dataset_available("fashion-mnist"));
  EXPECT_FALSE(system_dataset_available("fashion-mnist-test"));
  EXPECT_FALSE(system_dataset_available("digits"));
  const Dataset d = load_dataset("fashion-mnist");
  EXPECT_EQ(d.name, "fashion-mnist");
  EXPECT_EQ(d.rows(), 3u);
  EXPECT_THROW(load_dataset("fashion-mnist-test"), Error);
}

TEST(Idx, DatasetFilesAreTheFilesLoadDatasetReads) {
  const test::TempDir dir;
  const ScopedEnv system("DESCENT_DATASETS_DIR", dir.path().string());
  const ScopedEnv bundled("DESCENT_DATA_DIR", (dir / "bundled").string());
  std::filesystem::create_directory(dir / "bundled");
  test::write_text(dir / "bundled" / "toy.csv", "a,y\n1,0\n2,1\n");
  test::write_text(dir / "packed.csv.gz", "");
  using Files = std::vector<std::filesystem::path>;
  EXPECT_EQ(dataset_files("toy"), Files{dir / "bundled" / "toy.csv"});
  EXPECT_EQ(dataset_files((dir / "packed.csv.gz").string()), Files{dir / "packed.csv.gz"});
  EXPECT_EQ(dataset_files("fashion-mnist"),
            (Files{dir / "fashion-mnist" / "train-images-idx3-ubyte.gz",
                   dir / "fashion-mnist" / "train-labels-idx1-ubyte.gz"}));
  test::write_text(dir / "a-images-idx3-ubyte", "");
  EXPECT_EQ(dataset_files((dir / "a-images-idx3-ubyte").string()),
            (Files{dir / "a-images-idx3-ubyte", dir / "a-labels-idx1-ubyte"}));
  EXPECT_TRUE(dataset_files("synthetic:rows=10,features=4,classes=2").empty());
  EXPECT_TRUE(dataset_files("no-such-set").empty());
}

}  // namespace
}  // namespace descent
