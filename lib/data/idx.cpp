// The IDX reader (MNIST, Fashion-MNIST) and Debian's system data sets.

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/user_text.hpp"
#include "data/read_file.hpp"
#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"

namespace descent {
namespace {

// IDX's element type for unsigned bytes, the only one MNIST-style files use.
constexpr unsigned char kUnsignedByte = 0x08;

struct IdxArray {
  std::vector<std::size_t> dims;
  std::string_view data;  // the elements, one byte each
};

std::string_view type_name(unsigned char type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "unknown";
  }
}

// The header (magic 0 0 TYPE NDIMS, then NDIMS big-endian 32-bit sizes) and the elements.
IdxArray parse_array(std::string_view bytes, std::string_view file, std::string_view role) {
  if (bytes.size() < 4) {
    throw Error(fmt::format("{}: {} bytes are too few for an IDX header ({} file)", file,
                            bytes.size(), role));
  }
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (b[0] != 0 || b[1] != 0) {
    throw Error(
        fmt::format("{}: not an IDX file: it starts with bytes {:02x} {:02x}, not 00 00 ({} file)",
                    file, b[0], b[1], role));
  }
  if (b[2] != kUnsignedByte) {
    throw Error(
        fmt::format("{}: IDX element type 0x{:02x} ({}) is not supported: descent reads "
                    "unsigned-byte IDX files ({} file)",
                    file, b[2], type_name(b[2]), role));
  }
  const std::size_t ndims = b[3];
  if (ndims == 0)
    throw Error(fmt::format("{}: the IDX file has no dimensions ({} file)", file, role));
  if (bytes.size() < 4 + 4 * ndims) {
    throw Error(
        fmt::format("{}: truncated: the header declares {} dimensions but the file has "
                    "{} bytes ({} file)",
                    file, ndims, bytes.size(), role));
  }
  IdxArray array;
  std::size_t elements = 1;
  for (std::size_t d = 0; d < ndims; ++d) {
    const unsigned char* p = b + 4 + 4 * d;
    const std::size_t size = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                             (std::size_t{p[2]} << 8) | std::size_t{p[3]};
    array.dims.push_back(size);
    // Each size is below 2^32 and the data must fit in memory: stop before an overflow.
    if (size != 0 && elements > detail::kMaxDataBytes / size) {
      throw Error(fmt::format("{}: dimensions {} declare more than {} elements ({} file)", file,
                              fmt::join(array.dims, " x "), detail::kMaxDataBytes, role));
    }
    elements *= size;
  }
  const std::size_t header = 4 + 4 * ndims;
  const std::size_t have = bytes.size() - header;
  if (have != elements) {
    throw Error(
        fmt::format("{}: dimensions {} need {} bytes of data but the file has {} ({}) "
                    "({} file)",
                    file, fmt::join(array.dims, " x "), elements, have,
                    have < elements ? "truncated" : "trailing bytes", role));
  }
  array.data = bytes.substr(header);
  return array;
}

// Flattened images (count x pixels...) as the features of a classification set, without labels.
Dataset image_features(const IdxArray& x, const std::string& images_name, std::string_view name) {
  if (x.dims.size() < 2) {
    throw Error(
        fmt::format("{}: images need at least 2 dimensions (count, pixels...), the file "
                    "has {}",
                    images_name, x.dims.size()));
  }
  const std::size_t rows = x.dims[0];
  if (rows == 0) throw Error(fmt::format("{}: the files hold no images", name));
  std::size_t features = 1;
  for (std::size_t d = 1; d < x.dims.size(); ++d) features *= x.dims[d];
  if (features == 0) throw Error(fmt::format("{}: the images have no pixels", images_name));

  Dataset data;
  data.name = std::string(name);
  data.task = Task::classification;
  data.features = Matrix(rows, features);
  const auto* pixels = reinterpret_cast<const unsigned char*>(x.data.data());
  for (std::size_t i = 0; i < rows; ++i) {
    float* row = data.features.row(i);
    const unsigned char* from = pixels + i * features;
    for (std::size_t j = 0; j < features; ++j) row[j] = static_cast<float>(from[j]);
  }
  // pixel_R_C for images of rows x columns, as in the bundled MNIST CSVs; pixelJ otherwise.
  data.feature_names.reserve(features);
  for (std::size_t j = 0; j < features; ++j) {
    data.feature_names.push_back(x.dims.size() == 3
                                     ? fmt::format("pixel_{}_{}", j / x.dims[2], j % x.dims[2])
                                     : fmt::format("pixel{}", j));
  }
  return data;
}

// Throws descent::Error unless `file` is a regular file.
void check_idx_file(const std::filesystem::path& file) {
  detail::check_no_nul(file, "IDX file");
  if (const std::string why = why_not_a_regular_file(file); !why.empty())
    throw Error(fmt::format("IDX file \"{}\" {}", file.string(), why));
}

}  // namespace

Dataset parse_idx(std::string_view images, std::string_view labels, std::string_view name) {
  const std::string images_name = fmt::format("{} images", name);
  const std::string labels_name = fmt::format("{} labels", name);
  const IdxArray x = parse_array(images, images_name, "images");
  const IdxArray y = parse_array(labels, labels_name, "labels");
  if (x.dims.size() >= 2 && y.dims.size() != 1) {
    throw Error(fmt::format("{}: labels need 1 dimension (count), the file has {}", labels_name,
                            y.dims.size()));
  }
  if (x.dims.size() >= 2 && y.dims[0] != x.dims[0]) {
    throw Error(fmt::format("{}: {} images but {} labels", name, x.dims[0], y.dims[0]));
  }
  Dataset data = image_features(x, images_name, name);
  const std::size_t rows = data.rows();
  data.labels.resize(rows);
  std::uint32_t largest = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    data.labels[i] = static_cast<unsigned char>(y.data[i]);
    largest = std::max(largest, data.labels[i]);
  }
  data.classes = std::size_t{largest} + 1;
  data.target_name = "label";
  return data;
}

Matrix parse_idx_images(std::string_view images, std::string_view name) {
  const std::string images_name = fmt::format("{} images", name);
  return image_features(parse_array(images, images_name, "images"), images_name, name).features;
}

Matrix load_idx_images(const std::filesystem::path& images) {
  check_idx_file(images);
  const std::string x = detail::read_gzip(images);
  try {
    return parse_idx_images(x, images.filename().string());
  } catch (const Error& e) {
    throw Error(fmt::format("{} (reading {})", e.what(), images.string()));
  }
}

Dataset load_idx(const std::filesystem::path& images, const std::filesystem::path& labels) {
  check_idx_file(images);
  check_idx_file(labels);
  const std::string x = detail::read_gzip(images);
  const std::string y = detail::read_gzip(labels);
  try {
    return parse_idx(x, y, images.filename().string());
  } catch (const Error& e) {
    throw Error(fmt::format("{} (reading {} and {})", e.what(), images.string(), labels.string()));
  }
}

std::filesystem::path system_datasets_directory() {
  if (const char* env = std::getenv("DESCENT_DATASETS_DIR"); env != nullptr && *env != '\0')
    return env;
  return "/usr/share/datasets";
}

namespace detail {

struct SystemDataset {
  std::string_view name;
  std::string_view folder, images, labels;
  std::string_view package;
  std::string_view fallback;  // a bundled set of the same kind
};
constexpr SystemDataset kSystemDatasets[] = {
    {"fashion-mnist", "fashion-mnist", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
     "dataset-fashion-mnist", "fashion_mnist_test"},
    {"fashion-mnist-test", "fashion-mnist", "t10k-images-idx3-ubyte.gz",
     "t10k-labels-idx1-ubyte.gz", "dataset-fashion-mnist", "fashion_mnist_test"},
};

std::vector<std::string_view> system_dataset_names() {
  std::vector<std::string_view> names;
  for (const SystemDataset& d : kSystemDatasets) names.push_back(d.name);
  return names;
}

const SystemDataset* find_system_dataset(std::string_view name) {
  for (const SystemDataset& d : kSystemDatasets)
    if (d.name == name) return &d;
  return nullptr;
}

// The files of the system set `d`: its images, then its labels.
std::array<std::filesystem::path, 2> system_dataset_files(const SystemDataset& d) {
  const std::filesystem::path dir = system_datasets_directory() / d.folder;
  return {dir / d.images, dir / d.labels};
}

// The system set `name` (find_system_dataset says whether there is one by that name).
Dataset load_system_dataset(const SystemDataset& d) {
  const auto [images, labels] = system_dataset_files(d);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(images, ec) ||
      !std::filesystem::is_regular_file(labels, ec)) {
    throw Error(fmt::format(
        "{} is not installed: {} is missing (apt-get install {}; or use the "
        "bundled {})",
        d.name, (std::filesystem::is_regular_file(images, ec) ? labels : images).string(),
        d.package, d.fallback));
  }
  Dataset data = load_idx(images, labels);
  data.name = std::string(d.name);
  return data;
}

// The labels file beside an IDX images file: "images-idx3" -> "labels-idx1" in its name.
std::filesystem::path idx_labels_for(const std::filesystem::path& images) {
  std::string name = images.filename().string();
  const auto at = name.find("images-idx3");
  if (at == std::string::npos) return {};
  name.replace(at, std::strlen("images-idx3"), "labels-idx1");
  return images.parent_path() / name;
}

}  // namespace detail

bool system_dataset_available(std::string_view name) {
  const detail::SystemDataset* d = detail::find_system_dataset(name);
  if (d == nullptr) return false;
  const auto [images, labels] = detail::system_dataset_files(*d);
  std::error_code ec;
  return std::filesystem::is_regular_file(images, ec) &&
         std::filesystem::is_regular_file(labels, ec);
}

}  // namespace descent
