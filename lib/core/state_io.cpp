// The byte format of visited state, shared by optimizers and schedules (see state_io.hpp).

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "core/bytes.hpp"
#include "core/state_io.hpp"
#include "descent/error.hpp"

namespace descent::state_io {
namespace {

// The longest owner a state is read with: a schedule's canonical spec (make_schedule keeps
// its specs well below this).
constexpr std::size_t kMaxOwnerLength = std::size_t{1} << 20;

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
  // A field's name, or with a larger `most` the owner's (a schedule's whole spec).
  std::string name(std::size_t most = 256) {
    const auto size = get<std::uint32_t>();
    if (size > most) throw Error("a name in it is too long");
    need(size);
    std::string s(bytes_.data() + pos_, size);
    pos_ += size;
    return s;
  }
  void floats(std::vector<float>& out, std::uint64_t count) {
    if (count > (bytes_.size() - pos_) / sizeof(float)) throw Error("the state is truncated");
    out.resize(count);
    if (count != 0) std::memcpy(out.data(), bytes_.data() + pos_, count * sizeof(float));
    pos_ += count * sizeof(float);
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  void need(std::size_t n) const {
    if (bytes_.size() - pos_ < n) throw Error("the state is truncated");
  }
  std::span<const char> bytes_;
  std::size_t pos_ = 0;
};

// Walks the optimizer's fields against the saved ones: first only checking, so that a
// mismatch leaves the optimizer untouched, then copying.
class StateApplier final : public StateVisitor {
 public:
  StateApplier(const std::vector<Field>& fields, std::string_view owner, bool apply)
      : fields_(fields), optimizer_(owner), apply_(apply) {}
  void buffer(std::string_view name, AlignedBuffer<float>& values) override {
    const Field& f = next(name, FieldKind::buffer);
    if (!values.empty() && values.size() != f.values.size()) {
      throw Error(fmt::format("state of {}: {} holds {} values, this one {}", optimizer_, name,
                              f.values.size(), values.size()));
    }
    // Every buffer of one state belongs to the same parameters.
    if (!f.values.empty()) {
      if (buffer_size_ != 0 && f.values.size() != buffer_size_) {
        throw Error(fmt::format("state of {}: {} holds {} values, an earlier buffer {}", optimizer_,
                                name, f.values.size(), buffer_size_));
      }
      buffer_size_ = f.values.size();
    }
    if (!apply_) return;
    if (values.size() != f.values.size()) values.resize(f.values.size());
    std::copy(f.values.begin(), f.values.end(), values.data());
  }
  void counter(std::string_view name, std::uint64_t& value) override {
    const Field& f = next(name, FieldKind::counter);
    if (f.count > static_cast<std::uint64_t>(StateVisitor::kMaxWhole)) {
      throw Error(
          fmt::format("state of {}: {} = {} is damaged (beyond 2^53)", optimizer_, name, f.count));
    }
    if (apply_) value = f.count;
  }
  void scalar(std::string_view name, double& value) override {
    const Field& f = next(name, FieldKind::scalar);
    if (apply_) value = f.scalar;
  }
  void bounded(std::string_view name, double& value, double min, double max) override {
    const Field& f = next(name, FieldKind::scalar);
    if (!(f.scalar >= min && f.scalar <= max)) {
      throw Error(fmt::format("state of {}: {} = {} is damaged (it must lie in [{}, {}])",
                              optimizer_, name, f.scalar, min, max));
    }
    if (apply_) value = f.scalar;
  }
  void whole(std::string_view name, double& value, double min) override {
    const Field& f = next(name, FieldKind::scalar);
    if (!(f.scalar >= min && f.scalar <= StateVisitor::kMaxWhole) ||
        f.scalar != std::floor(f.scalar)) {
      throw Error(fmt::format("state of {}: {} = {} is damaged (it must be a whole number >= {})",
                              optimizer_, name, f.scalar, min));
    }
    if (apply_) value = f.scalar;
  }
  void finish() const {
    if (index_ != fields_.size()) {
      throw Error(
          fmt::format("state of {} has a field \"{}\" this one does not "
                      "have (other hyperparameters?)",
                      optimizer_, fields_[index_].name));
    }
  }

 private:
  const Field& next(std::string_view name, FieldKind kind) {
    if (index_ >= fields_.size() || fields_[index_].name != name || fields_[index_].kind != kind) {
      throw Error(fmt::format(
          "state of {} does not match this one: expected "
          "\"{}\", found \"{}\" (other hyperparameters?)",
          optimizer_, name, index_ < fields_.size() ? fields_[index_].name : "nothing"));
    }
    return fields_[index_++];
  }
  const std::vector<Field>& fields_;
  std::string_view optimizer_;
  bool apply_;
  std::size_t index_ = 0;
  std::size_t buffer_size_ = 0;
};

}  // namespace

std::vector<char> write(std::string_view magic, std::string_view owner, double rate,
                        const std::function<void(StateVisitor&)>& visit) {
  std::vector<char> out(magic.begin(), magic.end());
  put_name(out, owner);
  put<double>(out, rate);
  StateWriter writer(out);
  visit(writer);
  put<std::uint32_t>(out, checksum(out.data(), out.size()));
  return out;
}

double read(std::span<const char> bytes, std::string_view magic, std::string_view owner,
            std::string_view what, const std::function<void(StateVisitor&)>& visit,
            std::string_view also_owner) {
  try {
    if (bytes.size() < magic.size() + 4 ||
        std::memcmp(bytes.data(), magic.data(), magic.size()) != 0) {
      throw Error("bad magic");
    }
    const std::size_t body = bytes.size() - 4;
    std::uint32_t stored = 0;
    std::memcpy(&stored, bytes.data() + body, 4);
    if (!bytes::checksum_matches(stored, bytes.first(body)))
      throw Error("checksum mismatch: it is damaged");
    ByteReader r(bytes.first(body));
    for (std::size_t i = 0; i < magic.size(); ++i) r.get<char>();
    const std::string saved_owner = r.name(kMaxOwnerLength);
    if (saved_owner != owner && (also_owner.empty() || saved_owner != also_owner))
      throw Error(fmt::format("it is for {}, not {}", saved_owner, owner));
    const auto rate = r.get<double>();
    // The bounds of Optimizer::set_lr, checked here before any field is applied.
    if (!std::isfinite(rate) || rate < 0.0 || rate > std::numeric_limits<float>::max())
      throw Error(fmt::format("its learning rate {} is not valid", number_text(rate)));
    std::vector<Field> fields;
    while (!r.done()) {
      Field f;
      const auto kind = r.get<std::uint8_t>();
      if (kind < 1 || kind > 3) throw Error("unknown field kind");
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
      StateApplier applier(fields, owner, apply);
      visit(applier);
      applier.finish();
    }
    return rate;
  } catch (const Error& e) {
    throw Error(fmt::format("{} rejected: {}", what, e.what()));
  }
}

}  // namespace descent::state_io
