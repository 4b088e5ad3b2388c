#include "cli/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <string>

#include <fmt/format.h>

namespace descent::cli {

Progress::Progress(std::FILE* out, std::size_t epochs, std::size_t steps_per_epoch, bool enabled)
    : out_(out),
      epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      enabled_(enabled),
      terminal_(::isatty(::fileno(out)) != 0) {}

void Progress::step(const StepRecord& record) {
  ++steps_in_epoch_;
  if (!enabled_ || !terminal_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && steps_in_epoch_ != steps_per_epoch_)
    return;
  last_draw_ = now;
  constexpr std::size_t width = 30;
  const double done = steps_per_epoch_ == 0 ? 1.0
                                            : static_cast<double>(steps_in_epoch_) /
                                                  static_cast<double>(steps_per_epoch_);
  const auto filled = static_cast<std::size_t>(done * width);
  show(fmt::format("\r\033[Kepoch {:>{}}/{} [{}{}] {:3.0f}%  loss {:.4f}", record.epoch,
                   fmt::formatted_size("{}", epochs_), epochs_, std::string(filled, '#'),
                   std::string(width - std::min(filled, width), '.'), 100.0 * done, record.loss));
}

void Progress::epoch(const EpochRecord& r) {
  steps_in_epoch_ = 0;
  if (!enabled_) return;
  std::string line = fmt::format("epoch {:>{}}/{}  train_loss {:.4f}", r.epoch,
                                 fmt::formatted_size("{}", epochs_), epochs_, r.train_loss);
  if (!std::isnan(r.val_loss)) line += fmt::format("  val_loss {:.4f}", r.val_loss);
  if (!std::isnan(r.val_accuracy)) line += fmt::format("  val_acc {:.4f}", r.val_accuracy);
  if (!std::isnan(r.samples_per_second))
    line += fmt::format("  {:.0f} samples/s", r.samples_per_second);
  line += fmt::format("  {:.2f}s", r.seconds);
  show(fmt::format("{}{}\n", terminal_ ? "\r\033[K" : "", line));
}

void Progress::show(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0)
    enabled_ = false;
}

}  // namespace descent::cli
