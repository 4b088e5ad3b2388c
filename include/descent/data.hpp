#pragma once
// Datasets: the CSV reader (plain or gzip), the bundled sets in data/, and a seeded
// train/validation split.
//
// CSV layout: a header row, then one row per sample; the last column is the target.
// A target that is integer-valued, non-negative and has few distinct values makes a
// classification set (classes 0..K-1); anything else is regression. TaskHint overrides.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/loss.hpp"
#include "descent/matrix.hpp"

namespace descent {

enum class Task { classification, regression };
enum class TaskHint { automatic, classification, regression };

std::string_view to_string(Task task) noexcept;
// "auto", "classification", "regression"; throws descent::Error otherwise.
TaskHint parse_task_hint(std::string_view name);

struct Dataset {
  std::string name;  // the file or bundled name, for messages
  Task task = Task::regression;
  Matrix features;                    // [rows, features]
  std::vector<std::uint32_t> labels;  // classification: one per row, each < classes
  std::size_t classes = 0;            // classification: largest label + 1
  Matrix values;                      // regression: [rows, 1]
  std::vector<std::string> feature_names;
  std::string target_name;

  std::size_t rows() const noexcept { return features.rows(); }
  std::size_t feature_count() const noexcept { return features.cols(); }
  // The targets as the losses take them: labels, or values.
  Targets targets() const noexcept;
  // A copy holding the given rows, in the given order (after check_parts).
  Dataset subset(std::span<const std::size_t> rows) const;
  // Throws descent::Error unless the parts agree, as a Dataset built by hand may not: a label
  // per row and each below `classes` (classification), or a row of values per row
  // (regression). `role` leads the message ("training data").
  void check_parts(std::string_view role = "data") const;
  // Throws descent::Error naming the first feature (or regression target) that is NaN or
  // infinite, with its row and column; the file readers never let one in, a Dataset built by
  // hand may hold one. `role` leads the message, as for check_parts.
  void check_finite(std::string_view role = "data") const;
};

// Reads a CSV file (gzip-compressed when the name ends in .gz). Errors name
// file:line:column and what was wrong.
Dataset load_csv(const std::filesystem::path& path, TaskHint hint = TaskHint::automatic);
// The same parser on text in memory; `name` stands for the file in messages.
Dataset parse_csv(std::string_view text, std::string_view name,
                  TaskHint hint = TaskHint::automatic);

// The same, where has_target = false reads every column as a feature (data to predict on):
// the result has no targets (regression, with zero target columns).
Dataset load_csv_columns(const std::filesystem::path& path, TaskHint hint, bool has_target);
Dataset parse_csv_columns(std::string_view text, std::string_view name, TaskHint hint,
                          bool has_target);
// Every column but the last as features, and the last not read at all: data to predict on
// that still has its target column, whatever it holds (class names too).
Dataset load_csv_without_last(const std::filesystem::path& path);
Dataset parse_csv_without_last(std::string_view text, std::string_view name);
// Data to predict on for a model of `features` inputs: a CSV of that many columns, or of one
// more with the target last (not read). The header's width decides before any row is parsed;
// another width is an error naming both.
Dataset load_csv_features(const std::filesystem::path& path, std::size_t features);
Dataset parse_csv_features(std::string_view text, std::string_view name, std::size_t features);

// Reads an IDX pair, the format of the original MNIST and Fashion-MNIST files (gzip-compressed
// or not): unsigned-byte images [N, d1, d2, ...] (each image flattened into d1*d2*... features,
// kept as 0..255) and unsigned-byte labels [N], a classification set with classes = largest
// label + 1. Errors name the file and what was wrong (magic, type, dimensions, size, a count
// that differs between the two files).
Dataset load_idx(const std::filesystem::path& images, const std::filesystem::path& labels);
// The same on the (decompressed) bytes in memory; `name` stands for the files in messages.
Dataset parse_idx(std::string_view images, std::string_view labels, std::string_view name);
// The images alone, flattened as load_idx does, for a model's predictions on unlabelled images.
Matrix load_idx_images(const std::filesystem::path& images);
Matrix parse_idx_images(std::string_view images, std::string_view name);

// Where Debian's dataset packages put their files: $DESCENT_DATASETS_DIR, else
// /usr/share/datasets. "fashion-mnist" (60,000 training images) and "fashion-mnist-test"
// (10,000) load from its fashion-mnist/ folder (apt-get install dataset-fashion-mnist).
std::filesystem::path system_datasets_directory();
// Whether load_dataset(name) would find a system data set ("fashion-mnist", ...).
bool system_dataset_available(std::string_view name);

// Where the bundled data sets are: $DESCENT_DATA_DIR, else the source tree's data/, else the
// installed share/descent/data.
std::filesystem::path data_directory();
// The bundled data sets' names ("digits", "iris", ...).
std::vector<std::string> bundled_datasets();
// A bundled set by name, a system set ("fashion-mnist", "fashion-mnist-test"), a synthetic
// spec (make_synthetic), an IDX images file by path (its labels file found by replacing
// "images-idx3" with "labels-idx1" in the name), or a CSV file by path.
Dataset load_dataset(std::string_view name_or_path, TaskHint hint = TaskHint::automatic);
// The files load_dataset(name_or_path) reads (a bundled set's CSV, an IDX set's images and
// labels, ...); none for synthetic data or a name that names nothing. Lets a program refuse
// an output that would overwrite its input.
std::vector<std::filesystem::path> dataset_files(std::string_view name_or_path);

// MNIST-shaped synthetic classification data, for benchmarks and tests: `rows` samples of
// `features` values in [0, 1], labels uniform over `classes`. The classes share a sparse
// random base image and each adds its own strokes; a sample is its class's image with noise,
// clamped to [0, 1], and one label in twenty is replaced by a random one, so a model learns it
// but not perfectly. The same options give the same data on every machine and thread count.
struct SyntheticOptions {
  std::size_t rows = 60000;
  std::size_t features = 784;
  std::size_t classes = 10;
  std::uint64_t seed = 1;  // the classes (their prototypes), and with draw 0 the rows
  // Another sample of the same classes: a draw other than 0 gives other rows from the same
  // prototypes (train on draw 0, test on draw 1), where another seed makes other classes.
  std::uint64_t draw = 0;
};
Dataset make_synthetic(const SyntheticOptions& options);
// The same from a spec string, "synthetic[:rows=N,features=F,classes=C,seed=S,draw=D]" (keys
// left out take the defaults above). A bad key or value throws descent::Error naming it.
Dataset make_synthetic(std::string_view spec);
// Whether `name` is a synthetic spec ("synthetic" or "synthetic:...").
bool is_synthetic(std::string_view name) noexcept;

struct DataSplit {
  Dataset train;
  Dataset validation;
};
// How many of `rows` a validation fraction holds out: round(fraction * rows), at least one when
// fraction > 0. Throws descent::Error unless fraction is in [0, 1) and leaves a training row.
std::size_t validation_rows(std::size_t rows, double validation_fraction);
// Shuffles the rows with `seed`, then puts round(fraction * rows) of them (at least one when
// fraction > 0) in validation. fraction must be in [0, 1).
DataSplit split_train_validation(const Dataset& data, double validation_fraction,
                                 std::uint64_t seed);

}  // namespace descent
