// Optimizer::save_state and load_state. The format: "DSNTOPT1", the optimizer's name, the
// learning rate, then one record per visited field (kind, name, value), then a CRC-32 of
// everything before it. Little-endian.

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/optimizer.hpp"

namespace descent {
namespace {

constexpr char kStateMagic[8] = {'D', 'S', 'N', 'T', 'O', 'P', 'T', '1'};
enum class FieldKind : std::uint8_t { buffer = 1, counter = 2, scalar = 3 };

struct Field {
  FieldKind kind = FieldKind::buffer;
  std::string name;
  std::vector<float> values;  // buffer
  std::uint64_t count = 0;    // counter
  double scalar = 0.0;        // scalar
};

std::uint32_t checksum(const char* data, std::size_t size) {
  return static_cast<std::uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(data), static_cast<z_size_t>(size)));
}

template <class T>
void put(std::vector<char>& out, T value) {
  const auto* p = reinterpret_cast<const char*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

void put_name(std::vector<char>& out, std::string_view name) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(name.size()));
  out.insert(out.end(), name.begin(), name.end());
}

class StateWriter final : public StateVisitor {
 public:
  explicit StateWriter(std::vector<char>& out) : out_(out) {}
  void buffer(std::string_view name, AlignedBuffer<float>& values) override {
    put<std::uint8_t>(out_, static_cast<std::uint8_t>(FieldKind::buffer));
    put_name(out_, name);
    put<std::uint64_t>(out_, values.size());
    if (!values.empty()) {
      const auto* p = reinterpret_cast<const char*>(values.data());
      out_.insert(out_.end(), p, p + values.size() * sizeof(float));
    }
  }
  void counter(std::string_view name, std::uint64_t& value) override {
    put<std::uint8_t>(out_, static_cast<std::uint8_t>(FieldKind::counter));
    put_name(out_, name);
    put<std::uint64_t>(out_, value);
  }
  void scalar(std::string_view name, double& value) override {
    put<std::uint8_t>(out_, static_cast<std::uint8_t>(FieldKind::scalar));
    put_name(out_, name);
    put<double>(out_, value);
  }

 private:
  std::vector<char>& out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const char> bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string name() {
    const auto size = get<std::uint32_t>();
    if (size > 256) throw Error("optimizer state is damaged: a field name is too long");
    need(size);
    std::string s(bytes_.data() + pos_, size);
    pos_ += size;
    return s;
  }
  void floats(std::vector<float>& out, std::uint64_t count) {
    if (count > (bytes_.size() - pos_) / sizeof(float)) throw Error("optimizer state is truncated");
    out.resize(count);
    if (count != 0) std::memcpy(out.data(), bytes_.data() + pos_, count * sizeof(float));
    pos_ += count * sizeof(float);
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  void need(std::size_t n) const {
    if (bytes_.size() - pos_ < n) throw Error("optimizer state is truncated");
  }
  std::span<const char> bytes_;
  std::size_t pos_ = 0;
};

// Walks the optimizer's fields against the saved ones: first only checking, so that a
// mismatch leaves the optimizer untouched, then copying.
class StateApplier final : public StateVisitor {
 public:
  StateApplier(const std::vector<Field>& fields, std::string_view optimizer, bool apply)
      : fields_(fields), optimizer_(optimizer), apply_(apply) {}
  void buffer(std::string_view name, AlignedBuffer<float>& values) override {
    const Field& f = next(name, FieldKind::buffer);
    if (!values.empty() && values.size() != f.values.size()) {
      throw Error(fmt::format("optimizer state for {}: {} holds {} values, this optimizer {}",
                              optimizer_, name, f.values.size(), values.size()));
    }
    if (!apply_) return;
    if (values.size() != f.values.size()) values.resize(f.values.size());
    std::copy(f.values.begin(), f.values.end(), values.data());
  }
  void counter(std::string_view name, std::uint64_t& value) override {
    const Field& f = next(name, FieldKind::counter);
    if (apply_) value = f.count;
  }
  void scalar(std::string_view name, double& value) override {
    const Field& f = next(name, FieldKind::scalar);
    if (apply_) value = f.scalar;
  }
  void finish() const {
    if (index_ != fields_.size()) {
      throw Error(
          fmt::format("optimizer state for {} has a field \"{}\" this optimizer does not "
                      "have (other hyperparameters?)",
                      optimizer_, fields_[index_].name));
    }
  }

 private:
  const Field& next(std::string_view name, FieldKind kind) {
    if (index_ >= fields_.size() || fields_[index_].name != name || fields_[index_].kind != kind) {
      throw Error(fmt::format(
          "optimizer state for {} does not match this optimizer: expected "
          "\"{}\", found \"{}\" (other hyperparameters?)",
          optimizer_, name, index_ < fields_.size() ? fields_[index_].name : "nothing"));
    }
    return fields_[index_++];
  }
  const std::vector<Field>& fields_;
  std::string_view optimizer_;
  bool apply_;
  std::size_t index_ = 0;
};

}  // namespace

std::vector<char> Optimizer::save_state() const {
  std::vector<char> out(std::begin(kStateMagic), std::end(kStateMagic));
  put_name(out, name());
  put<double>(out, lr_);
  StateWriter writer(out);
  // The visitor interface takes references for both directions; writing changes nothing.
  auto& self = const_cast<Optimizer&>(*this);
  writer.counter("step", self.steps_);
  self.visit_state(writer);
  put<std::uint32_t>(out, checksum(out.data(), out.size()));
  return out;
}

void Optimizer::load_state(std::span<const char> bytes) {
  if (bytes.size() < sizeof kStateMagic + 4 ||
      std::memcmp(bytes.data(), kStateMagic, sizeof kStateMagic) != 0) {
    throw Error("not an optimizer state (bad magic)");
  }
  const std::size_t body = bytes.size() - 4;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + body, 4);
  if (stored != checksum(bytes.data(), body)) {
    throw Error("optimizer state is damaged (checksum mismatch)");
  }
  ByteReader r(bytes.first(body));
  for (std::size_t i = 0; i < sizeof kStateMagic; ++i) r.get<char>();
  const std::string saved_name = r.name();
  if (saved_name != name()) {
    throw Error(fmt::format("optimizer state is for {}, not {}", saved_name, name()));
  }
  const auto saved_lr = r.get<double>();
  if (!std::isfinite(saved_lr) || saved_lr < 0.0) throw Error("optimizer state is damaged: bad lr");
  std::vector<Field> fields;
  while (!r.done()) {
    Field f;
    const auto kind = r.get<std::uint8_t>();
    if (kind < 1 || kind > 3) throw Error("optimizer state is damaged: unknown field kind");
    f.kind = static_cast<FieldKind>(kind);
    f.name = r.name();
    if (f.kind == FieldKind::buffer) {
      r.floats(f.values, r.get<std::uint64_t>());
    } else if (f.kind == FieldKind::counter) {
      f.count = r.get<std::uint64_t>();
    } else {
      f.scalar = r.get<double>();
    }
    fields.push_back(std::move(f));
  }
  for (bool apply : {false, true}) {
    StateApplier applier(fields, name(), apply);
    applier.counter("step", steps_);
    visit_state(applier);
    applier.finish();
  }
  set_lr(saved_lr);
}

}  // namespace descent
