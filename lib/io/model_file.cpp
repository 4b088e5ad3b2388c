// The model file format. All integers and floats little-endian:
//   "DESCENTM"  u32 version  u32 loss (0 none, 1 mse, 2 cross_entropy, 3 bce_with_logits)
//   u64 inputs  u64 layers  { u64 units  u32 activation  u32 zero } per layer
//   u64 standardised features (0 or inputs)  f32 mean[n]  f32 stddev[n]
//   u64 parameters  f32 parameters[...]
//   u32 CRC-32 of every byte before it

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "core/user_text.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"

namespace descent {
namespace {

constexpr char kMagic[8] = {'D', 'E', 'S', 'C', 'E', 'N', 'T', 'M'};
constexpr std::uint32_t kVersion = 1;
// What a Network can hold (kMaxParameters, each layer at least a weight and a bias), so that
// every model save_network writes reads back; the size checks below catch the rest.
constexpr std::uint64_t kMaxUnits = kMaxParameters;
constexpr std::uint64_t kMaxLayers = kMaxParameters / 2;

std::uint32_t loss_tag(std::optional<Loss> loss) {
  if (!loss) return 0;
  switch (*loss) {
    case Loss::mse:
      return 1;
    case Loss::cross_entropy:
      return 2;
    case Loss::bce_with_logits:
      return 3;
  }
  throw Error(fmt::format("cannot save the model: loss {} is not one descent has",
                          static_cast<int>(*loss)));
}

}  // namespace

std::vector<char> model_bytes(const Network& network, std::optional<Loss> loss) {
  // A model that cannot compute anything is not saved, so that no file descent writes is one
  // it refuses to read.
  if (const std::string bad = describe_non_finite_parameter(network); !bad.empty())
    throw Error(fmt::format("cannot save the model: {}", bad));
  if (loss == Loss::cross_entropy && network.outputs() < 2) {
    throw Error(
        fmt::format("cannot save the model: cross_entropy over {} output (it needs one per "
                    "class, at least 2)",
                    network.outputs()));
  }
  bytes::Writer w;
  w.put_bytes(kMagic);
  w.put<std::uint32_t>(kVersion);
  w.put<std::uint32_t>(loss_tag(loss));
  w.put<std::uint64_t>(network.inputs());
  w.put<std::uint64_t>(network.layers().size());
  for (const DenseLayer& layer : network.layers()) {
    w.put<std::uint64_t>(layer.outputs);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(layer.activation));
    w.put<std::uint32_t>(0);
  }
  const Standardization& s = network.standardization();
  w.put<std::uint64_t>(s.features());
  w.put_floats(s.mean);
  w.put_floats(s.stddev);
  w.put<std::uint64_t>(network.parameter_count());
  w.put_floats(network.parameters());
  w.put<std::uint32_t>(bytes::crc32(w.out));
  return std::move(w.out);
}

void save_network(const std::filesystem::path& path, const Network& network,
                  std::optional<Loss> loss) {
  write_file_atomically(path, model_bytes(network, loss));
}

LoadedModel parse_model(std::span<const char> bytes, std::string_view name) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw Error(fmt::format("{}: not a descent model file (bad magic)", name));
  }
  bytes::Reader r(bytes, fmt::format("{}: model file", name));
  for (std::size_t i = 0; i < sizeof kMagic; ++i) r.get<char>("the magic");
  const auto version = r.get<std::uint32_t>("the format version");
  if (version != kVersion) {
    throw Error(fmt::format("{}: model format version {} is not supported (this build reads {})",
                            name, version, kVersion));
  }
  const auto tag = r.get<std::uint32_t>("the loss");
  if (tag > 3) throw Error(fmt::format("{}: corrupted model file: loss tag {}", name, tag));
  const auto inputs = r.get<std::uint64_t>("the input count");
  const auto layer_count = r.get<std::uint64_t>("the layer count");
  if (inputs == 0 || inputs > kMaxUnits || layer_count == 0 || layer_count > kMaxLayers) {
    throw Error(
        fmt::format("{}: corrupted model file: {} inputs, {} layers", name, inputs, layer_count));
  }
  std::vector<LayerSpec> layers;
  std::uint64_t expected_params = 0;
  std::uint64_t fan_in = inputs;
  for (std::uint64_t l = 0; l < layer_count; ++l) {
    const auto units = r.get<std::uint64_t>("a layer size");
    const auto activation = r.get<std::uint32_t>("a layer activation");
    const auto zero = r.get<std::uint32_t>("a layer record");
    if (units == 0 || units > kMaxUnits || activation > 3 || zero != 0) {
      throw Error(fmt::format("{}: corrupted model file: layer {} has {} units, activation {}",
                              name, l + 1, units, activation));
    }
    layers.push_back({static_cast<std::size_t>(units), static_cast<Activation>(activation)});
    expected_params += fan_in * units + units;
    fan_in = units;
    // Each term is below 2^63 (units and fan_in at most 2^31) and the sum so far is at most
    // the file's size, so checking as we go keeps the sum from overflowing.
    if (expected_params > bytes.size()) {
      throw Error(
          fmt::format("{}: truncated or corrupted model file: its layers need more than "
                      "its {} bytes",
                      name, bytes.size()));
    }
  }
  const auto standardized = r.get<std::uint64_t>("the standardisation size");
  if (standardized != 0 && standardized != inputs) {
    throw Error(fmt::format("{}: corrupted model file: standardisation for {} of {} inputs", name,
                            standardized, inputs));
  }
  if (standardized > r.remaining() / (2 * sizeof(float))) r.truncated("the standardisation");
  Standardization s;
  s.mean.resize(standardized);
  s.stddev.resize(standardized);
  r.floats(s.mean.data(), standardized, "the feature means");
  r.floats(s.stddev.data(), standardized, "the feature standard deviations");
  try {
    s.check();  // the same rule as set_standardization: a file it writes, it reads
  } catch (const Error& e) {
    throw Error(fmt::format("{}: corrupted model file: {}", name, e.what()));
  }
  const auto params = r.get<std::uint64_t>("the parameter count");
  if (params != expected_params) {
    throw Error(fmt::format("{}: corrupted model file: {} parameters for layers that need {}", name,
                            params, expected_params));
  }
  if ((bytes.size() - r.position()) / sizeof(float) < params) {
    throw Error(fmt::format("{}: truncated model file: {} bytes, too short for {} parameters", name,
                            bytes.size(), params));
  }
  Network network(static_cast<std::size_t>(inputs), std::move(layers));
  r.floats(network.parameters().data(), network.parameter_count(), "the parameters");
  const std::size_t body = r.position();
  const auto stored = r.get<std::uint32_t>("the checksum");
  if (r.position() != bytes.size()) {
    throw Error(fmt::format("{}: corrupted model file: {} unexpected bytes after the checksum",
                            name, bytes.size() - r.position()));
  }
  if (!bytes::checksum_matches(stored, bytes.first(body))) {
    throw Error(fmt::format("{}: corrupted model file: checksum mismatch", name));
  }
  // The checksum matched: what follows is a file written that way, not damage.
  if (const std::string bad = describe_non_finite_parameter(network); !bad.empty())
    throw Error(fmt::format("{}: the model cannot be used: {}", name, bad));
  if (tag == loss_tag(Loss::cross_entropy) && network.outputs() < 2) {
    throw Error(
        fmt::format("{}: the model records the loss cross_entropy but has {} output (it "
                    "needs one per class, at least 2)",
                    name, network.outputs()));
  }
  network.set_standardization(std::move(s));
  LoadedModel model{std::move(network), std::nullopt};
  if (tag != 0) {
    model.loss = tag == 1 ? Loss::mse : tag == 2 ? Loss::cross_entropy : Loss::bce_with_logits;
  }
  return model;
}

LoadedModel load_model(const std::filesystem::path& path) {
  return parse_model(bytes::read_file(path.string(), "model file"), path.string());
}

Network load_network(const std::filesystem::path& path) {
  return load_model(path).network;
}

void save_parameters(const std::filesystem::path& path, const Network& network) {
  const auto params = network.parameters();
  write_file_atomically(path, std::span<const char>(reinterpret_cast<const char*>(params.data()),
                                                    params.size_bytes()));
}

void load_parameters(const std::filesystem::path& path, Network& network) {
  detail::check_no_nul(path, "parameter file");
  if (const std::string why = why_not_a_regular_file(path); !why.empty())
    throw Error(fmt::format("parameter file \"{}\" {}", path.string(), why));
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const std::size_t expected = network.parameter_count() * sizeof(float);
  if (ec || size != expected) {
    throw Error(
        fmt::format("parameter file \"{}\" holds {} bytes; this network's {} parameters "
                    "need {} (float32, nn.Linear order)",
                    path.string(), size, network.parameter_count(), expected));
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<float> values(network.parameter_count());
  try {
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(expected));
  } catch (const std::ios_base::failure& e) {  // libstdc++'s filebuf on a failed read
    throw Error(fmt::format("cannot read parameter file \"{}\": {}", path.string(), e.what()));
  }
  if (!in) throw Error(fmt::format("cannot read parameter file \"{}\"", path.string()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(
          fmt::format("parameter file \"{}\": parameter {} is {}", path.string(), i, values[i]));
    }
  }
  network.set_parameters(values);
}

}  // namespace descent
