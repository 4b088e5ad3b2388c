// MNIST-shaped synthetic data: class prototypes over a shared base, noise and some label noise.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "core/memory.hpp"
#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/rng.hpp"
#include "descent/spec.hpp"

namespace descent {
namespace {

// Far beyond any real use, and small enough that rows * features cannot overflow.
constexpr std::size_t kMaxRows = std::size_t{1} << 31;
constexpr std::size_t kMaxFeatures = std::size_t{1} << 24;
constexpr std::size_t kMaxValues = std::size_t{1} << 33;  // 32 GiB of floats
constexpr std::size_t kMaxClasses = std::size_t{1} << 16;

std::string describe(const SyntheticOptions& o) {
  return fmt::format("synthetic:rows={},features={},classes={},seed={}{}", o.rows, o.features,
                     o.classes, o.seed, o.draw == 0 ? "" : fmt::format(",draw={}", o.draw));
}

}  // namespace

bool is_synthetic(std::string_view name) noexcept {
  return name == "synthetic" || name.starts_with("synthetic:");
}

Dataset make_synthetic(const SyntheticOptions& o) {
  const std::string name = describe(o);
  auto invalid = [&](std::string_view key, std::size_t value, std::string_view why) {
    throw Error(fmt::format("dataset \"{}\": {}={} is invalid: {}", name, key, value, why));
  };
  if (o.rows == 0 || o.rows > kMaxRows) invalid("rows", o.rows, "it must be in [1, 2^31]");
  if (o.features == 0 || o.features > kMaxFeatures)
    invalid("features", o.features, "it must be in [1, 2^24]");
  if (o.classes < 2 || o.classes > kMaxClasses)
    invalid("classes", o.classes, "it must be in [2, 65536]");
  if (o.rows * o.features > kMaxValues) {
    throw Error(
        fmt::format("dataset \"{}\": rows x features = {} values is too large (at most "
                    "2^33)",
                    name, o.rows * o.features));
  }

  // Refused here with its name, rather than as a bare "out of memory" from the first block.
  const std::size_t bytes = o.rows * o.features * sizeof(float) + o.rows * sizeof(std::uint32_t);
  if (!detail::memory_left_for(bytes)) {
    throw Error(fmt::format(
        "dataset \"{}\": out of memory for its {} x {} values ({:.1f} GiB; "
        "they would leave under {} MiB free)",
        name, o.rows, o.features, static_cast<double>(bytes) / (1 << 30), detail::kKeepFreeMiB));
  }

  Rng rng(o.seed);
  // A shared base image (a fifth of the features inked, at intensities in [0.5, 1]) and, per
  // class, its own strokes on another twentieth of the features.
  std::vector<float> base(o.features, 0.0f);
  for (float& v : base) {
    if (rng.uniform_float() < 0.2f) v = rng.uniform(0.5f, 1.0f);
  }
  std::vector<float> prototypes(o.classes * o.features);
  for (std::size_t c = 0; c < o.classes; ++c) {
    for (std::size_t j = 0; j < o.features; ++j) {
      const float stroke = rng.uniform_float() < 0.05f ? rng.uniform(0.5f, 1.0f) : 0.0f;
      prototypes[c * o.features + j] = std::max(base[j], stroke);
    }
  }

  // The rows: draw 0 goes on with the stream that made the prototypes; another draw takes
  // its own stream, the same classes with other rows (a test set for a training set).
  if (o.draw != 0) rng.reseed(o.seed ^ (0x9e3779b97f4a7c15ULL * o.draw) ^ 0xd1b54a32d192ed03ULL);

  Dataset d;
  d.name = name;
  d.task = Task::classification;
  d.classes = o.classes;
  d.features = Matrix(o.rows, o.features);
  d.labels.resize(o.rows);
  d.feature_names.reserve(o.features);
  for (std::size_t j = 0; j < o.features; ++j) d.feature_names.push_back(fmt::format("x{}", j));
  d.target_name = "label";
  for (std::size_t i = 0; i < o.rows; ++i) {
    const auto drawn = static_cast<std::uint32_t>(rng.below(o.classes));
    // One label in twenty is replaced by a random one: no model gets every row right.
    const bool relabel = rng.uniform_float() < 0.05f;
    const auto other = static_cast<std::uint32_t>(rng.below(o.classes));
    d.labels[i] = relabel ? other : drawn;
    const float* proto = prototypes.data() + drawn * o.features;
    float* row = d.features.row(i);
    // Noise of +-0.6 blurs the classes into each other; a tenth of the ink drops out.
    for (std::size_t j = 0; j < o.features; ++j) {
      const float noise = rng.uniform(-0.6f, 0.6f);
      const float ink = proto[j] > 0.0f && rng.uniform_float() < 0.1f ? 0.0f : proto[j];
      row[j] = std::clamp(ink + noise * 0.5f, 0.0f, 1.0f);
    }
  }
  return d;
}

Dataset make_synthetic(std::string_view text) {
  const Spec spec = Spec::parse(text, "dataset");
  if (spec.name != "synthetic") {
    throw Error(
        fmt::format("dataset \"{}\": not a synthetic spec (synthetic:rows=N,features=F,"
                    "classes=C[,seed=S,draw=D])",
                    text));
  }
  SyntheticOptions o;
  SpecReader r(spec, "dataset");
  o.rows = static_cast<std::size_t>(r.integer("rows", static_cast<long long>(o.rows), 1));
  o.features =
      static_cast<std::size_t>(r.integer("features", static_cast<long long>(o.features), 1));
  o.classes = static_cast<std::size_t>(r.integer("classes", static_cast<long long>(o.classes), 2));
  o.seed = static_cast<std::uint64_t>(r.integer("seed", static_cast<long long>(o.seed), 0));
  o.draw = static_cast<std::uint64_t>(r.integer("draw", static_cast<long long>(o.draw), 0));
  r.finish();
  return make_synthetic(o);
}

}  // namespace descent
