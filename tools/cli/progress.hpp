#pragma once
// The live progress display: a line per epoch, and a bar within the epoch on a terminal.

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

#include "descent/train.hpp"

namespace descent::cli {

class Progress {
 public:
  // Writes to `out`; draws a bar only when `out` is a terminal. A write that fails (a pipe
  // whose reader has gone, a full disk) ends the display, not the training: the run goes on to
  // save what it trained, and the failure stays on `out` (ferror) for the command to report.
  Progress(std::FILE* out, std::size_t epochs, std::size_t steps_per_epoch, bool enabled);
  void step(const StepRecord& record);
  void epoch(const EpochRecord& record);

 private:
  void show(const std::string& text);

  std::FILE* out_;
  std::size_t epochs_;
  std::size_t steps_per_epoch_;
  bool enabled_;
  bool terminal_;
  std::size_t steps_in_epoch_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace descent::cli
