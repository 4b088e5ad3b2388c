#pragma once
// State that must survive a checkpoint -- an optimizer's buffers and step count, a
// schedule's position -- is listed through a StateVisitor, always in the same order, so that
// saving and restoring need no code of their own in each optimizer or schedule.

#include <cstdint>
#include <string_view>

#include "descent/matrix.hpp"

namespace descent {

class StateVisitor {
 public:
  virtual ~StateVisitor() = default;
  virtual void buffer(std::string_view name, AlignedBuffer<float>& values) = 0;
  virtual void counter(std::string_view name, std::uint64_t& value) = 0;
  virtual void scalar(std::string_view name, double& value) = 0;
};

}  // namespace descent
