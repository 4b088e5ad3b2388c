#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/rng.hpp"

namespace descent {

namespace detail {
struct SystemDataset;
const SystemDataset* find_system_dataset(std::string_view name);
std::vector<std::string_view> system_dataset_names();
Dataset load_system_dataset(const SystemDataset& d);
std::array<std::filesystem::path, 2> system_dataset_files(const SystemDataset& d);
std::filesystem::path idx_labels_for(const std::filesystem::path& images);
}  // namespace detail

Targets Dataset::targets() const noexcept {
  if (task == Task::classification) return Targets{labels, {}};
  return Targets{{}, values.view()};
}

void Dataset::check_parts(std::string_view role) const {
  if (task != Task::classification && task != Task::regression) {
    throw Error(fmt::format("{} \"{}\": task {} is not classification or regression", role, name,
                            static_cast<int>(task)));
  }
  if (task == Task::classification) {
    if (labels.size() != rows()) {
      throw Error(
          fmt::format("{} \"{}\" has {} rows but {} labels", role, name, rows(), labels.size()));
    }
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] >= classes) {
        throw Error(fmt::format("{} \"{}\": label {} in row {} is not below its {} classes", role,
                                name, labels[i], i, classes));
      }
    }
  } else if (values.rows() != rows()) {
    throw Error(fmt::format("{} \"{}\" has {} rows but {} rows of targets", role, name, rows(),
                            values.rows()));
  }
}

void Dataset::check_finite(std::string_view role) const {
  auto scan = [&](const Matrix& m, const char* what) {
    for (std::size_t i = 0; i < m.rows(); ++i) {
      const float* row = m.row(i);
      // The exponent bits all set: inf or NaN. One test per row (a loop the compiler
      // vectorises), the element found only when there is one.
      std::uint32_t bad = 0;
      for (std::size_t j = 0; j < m.cols(); ++j) {
        std::uint32_t bits;
        std::memcpy(&bits, row + j, sizeof bits);
        bad |= static_cast<std::uint32_t>((~bits & 0x7f800000u) == 0);
      }
      if (bad == 0) continue;
      for (std::size_t j = 0; j < m.cols(); ++j) {
        if (!std::isfinite(row[j])) {
          throw Error(
              fmt::format("{} \"{}\": {} {} of row {} is {} (descent takes finite numbers "
                          "only; rows and columns count from 0)",
                          role, name, what, j, i, number_text(row[j])));
        }
      }
    }
  };
  scan(features, "feature");
  if (task == Task::regression) scan(values, "target");
}

Dataset Dataset::subset(std::span<const std::size_t> rows) const {
  check_parts();
  Dataset out;
  out.name = name;
  out.task = task;
  out.classes = classes;
  out.feature_names = feature_names;
  out.target_name = target_name;
  out.features = Matrix(rows.size(), feature_count());
  if (task == Task::classification) {
    out.labels.resize(rows.size());
  } else {
    out.values = Matrix(rows.size(), values.cols());
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::size_t r = rows[i];
    if (r >= this->rows())
      throw Error(fmt::format("{}: row {} is out of range ({} rows)", name, r, this->rows()));
    std::memcpy(out.features.row(i), features.row(r), feature_count() * sizeof(float));
    if (task == Task::classification) {
      out.labels[i] = labels[r];
    } else {
      std::memcpy(out.values.row(i), values.row(r), values.cols() * sizeof(float));
    }
  }
  return out;
}

std::filesystem::path data_directory() {
  if (const char* env = std::getenv("DESCENT_DATA_DIR"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path source = DESCENT_DATA_SOURCE_DIR;
  if (std::filesystem::is_directory(source, ec)) return source;
  return DESCENT_DATA_INSTALL_DIR;
}

namespace {

std::string bundled_name(const std::filesystem::path& file) {
  std::string name = file.filename().string();
  for (std::string_view suffix : {".csv.gz", ".csv"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix))
      return name.substr(0, name.size() - suffix.size());
  }
  return {};
}

bool looks_like_path(std::string_view name_or_path) {
  return name_or_path.find('/') != std::string_view::npos || name_or_path.ends_with(".csv") ||
         name_or_path.ends_with(".gz");
}

// The file of the bundled set `name` (data_directory()/name.csv or .csv.gz), or an empty path
// when `name` is not one.
std::filesystem::path bundled_file(std::string_view name) {
  if (looks_like_path(name) || name.empty()) return {};
  std::error_code ec;
  for (std::string_view suffix : {".csv", ".csv.gz"}) {
    std::filesystem::path file = data_directory() / (std::string(name) + std::string(suffix));
    if (std::filesystem::is_regular_file(file, ec)) return file;
  }
  return {};
}

}  // namespace

std::vector<std::string> bundled_datasets() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_directory(), ec)) {
    const std::string name = bundled_name(entry.path());
    if (!name.empty() && entry.is_regular_file(ec)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

// What a --data name stands for, found in load_dataset's order: synthetic data, a system set,
// an existing file (IDX images with their labels, else a CSV), a bundled set's CSV, or none.
struct Source {
  enum class Kind { none, synthetic, system, idx, csv, bundled } kind = Kind::none;
  const detail::SystemDataset* system = nullptr;
  std::vector<std::filesystem::path> files;  // what loading it reads
};

Source resolve(std::string_view name_or_path) {
  using Kind = Source::Kind;
  if (is_synthetic(name_or_path)) return {Kind::synthetic, nullptr, {}};
  if (const detail::SystemDataset* system = detail::find_system_dataset(name_or_path)) {
    const auto [images, labels] = detail::system_dataset_files(*system);
    return {Kind::system, system, {images, labels}};
  }
  const std::filesystem::path path(name_or_path);
  std::error_code ec, link_ec;
  const bool exists = std::filesystem::exists(path, ec);
  // A name the system cannot follow (a dangling link, a loop of links on the way, a directory
  // it may not search) is a file the user named, unless a bundled set has that name: reading
  // it says why it cannot be opened, rather than "unknown dataset" or "does not exist".
  const bool unreachable =
      (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) ||
      std::filesystem::is_symlink(std::filesystem::symlink_status(path, link_ec));
  if (exists || (unreachable && bundled_file(name_or_path).empty())) {
    if (std::filesystem::path labels = detail::idx_labels_for(path); !labels.empty())
      return {Kind::idx, nullptr, {path, labels}};
    return {Kind::csv, nullptr, {path}};
  }
  if (std::filesystem::path file = bundled_file(name_or_path); !file.empty())
    return {Kind::bundled, nullptr, {file}};
  return {};
}

}  // namespace

Dataset load_dataset(std::string_view name_or_path, TaskHint hint) {
  using Kind = Source::Kind;
  const Source source = resolve(name_or_path);
  auto classification_only = [&](std::string_view what) {
    if (hint == TaskHint::regression)
      throw Error(fmt::format("{}: {} a classification set, not regression", name_or_path, what));
  };
  switch (source.kind) {
    case Kind::synthetic:
      classification_only("synthetic data is");
      return make_synthetic(name_or_path);
    case Kind::system:
      classification_only("it is");
      return detail::load_system_dataset(*source.system);
    case Kind::idx:
      classification_only("IDX images are");
      return load_idx(source.files[0], source.files[1]);
    case Kind::csv:
      return load_csv(source.files[0], hint);
    case Kind::bundled: {
      Dataset data = load_csv(source.files[0], hint);
      data.name = std::string(name_or_path);
      return data;
    }
    case Kind::none:
      break;
  }
  if (looks_like_path(name_or_path))
    throw Error(fmt::format("data file \"{}\" does not exist", name_or_path));
  const std::vector<std::string> names = bundled_datasets();
  throw Error(
      fmt::format("unknown dataset \"{}\": not a file, a bundled set ({}), a system set ({}) or "
                  "synthetic:rows=N,features=F,classes=C",
                  name_or_path,
                  names.empty() ? std::string("none found in " + data_directory().string())
                                : fmt::format("{}", fmt::join(names, ", ")),
                  fmt::join(detail::system_dataset_names(), ", ")));
}

std::vector<std::filesystem::path> dataset_files(std::string_view name_or_path) {
  return resolve(name_or_path).files;
}

std::size_t validation_rows(std::size_t rows, double validation_fraction) {
  if (!(validation_fraction >= 0.0 && validation_fraction < 1.0)) {
    throw Error(fmt::format("validation fraction {} is invalid: it must be in [0, 1)",
                            validation_fraction));
  }
  auto val =
      static_cast<std::size_t>(std::llround(validation_fraction * static_cast<double>(rows)));
  if (validation_fraction > 0.0 && val == 0) val = 1;
  if (val >= rows) {
    throw Error(fmt::format("{} rows are too few to hold out a validation fraction of {}", rows,
                            validation_fraction));
  }
  return val;
}

DataSplit split_train_validation(const Dataset& data, double validation_fraction,
                                 std::uint64_t seed) {
  const std::size_t rows = data.rows();
  std::size_t val = 0;
  try {
    val = validation_rows(rows, validation_fraction);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", data.name, e.what()));
  }
  std::vector<std::size_t> order(rows);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(seed);
  rng.shuffle(std::span<std::size_t>(order));
  const std::size_t train = rows - val;
  DataSplit split;
  split.train = data.subset(std::span<const std::size_t>(order).first(train));
  split.validation = data.subset(std::span<const std::size_t>(order).subspan(train));
  return split;
}

}  // namespace descent
