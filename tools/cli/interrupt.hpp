#pragma once
// Signals. SIGINT (Ctrl-C), SIGTERM and SIGHUP end the process as they would, but first remove
// the partial file of an atomic write under way (descent::remove_partial_output), so that no
// temporary file is left beside an output. While a GracefulStop lives (train, as it trains),
// a first SIGINT or SIGTERM only asks the run to stop after the step under way, so that it
// writes what it trained; a second one ends the process.

namespace descent::cli {

// Installs the handlers (once, from main).
void install_signal_handlers();

class GracefulStop {
 public:
  GracefulStop();
  ~GracefulStop();
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;
};

// The signal that asked for a stop, or 0.
int stop_signal() noexcept;

}  // namespace descent::cli
