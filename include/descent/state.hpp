#pragma once
// State that must survive a checkpoint -- an optimizer's buffers and step count, a
// schedule's position -- is listed through a StateVisitor, always in the same order, so that
// saving and restoring need no code of their own in each optimizer or schedule.
//
// Restoring checks everything before it changes anything: every field's name, kind and size,
// that every non-empty buffer holds the same number of values, that counters stay below 2^53
// and that bounded scalars lie in their range (NaN never does).

#include <cstdint>
#include <limits>
#include <string_view>

#include "descent/matrix.hpp"

namespace descent {

class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  virtual void buffer(std::string_view name, AlignedBuffer<float>& values) = 0;
  virtual void counter(std::string_view name, std::uint64_t& value) = 0;
  virtual void scalar(std::string_view name, double& value) = 0;
  // A scalar that must lie in [min, max] (so not NaN); restoring one outside is refused.
  // Saved like scalar().
  virtual void bounded(std::string_view name, double& value, double min, double max) {
    (void)min;
    (void)max;
    scalar(name, value);
  }
  // A whole number kept in a double, in [min, 2^53]; restoring anything else is refused.
  // Saved like scalar().
  virtual void whole(std::string_view name, double& value, double min) {
    (void)min;
    scalar(name, value);
  }

  static constexpr double kMaxWhole = 9007199254740992.0;  // 2^53
};

}  // namespace descent
