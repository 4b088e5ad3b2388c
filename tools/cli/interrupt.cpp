// Signals (see interrupt.hpp).

#include "cli/interrupt.hpp"

#include <pthread.h>

#include <csignal>

#include "cli/options.hpp"
#include "descent/io.hpp"

namespace descent::cli {
namespace {

volatile std::sig_atomic_t graceful = 0;   // a GracefulStop lives
volatile std::sig_atomic_t requested = 0;  // the signal that asked for a stop
pthread_t main_thread;                     // the thread that writes the output files

extern "C" void on_signal(int sig) {
  // A signal can land on any thread (a oneTBB worker). Handled there, the main thread went on
  // between the removal of the partial file and the end of the process, and could start the
  // next file. On the main thread, the handler runs between two of its steps instead.
  if (pthread_equal(pthread_self(), main_thread) == 0) {
    pthread_kill(main_thread, sig);
    return;
  }
  if (graceful != 0 && requested == 0 && sig != SIGHUP) {
    requested = sig;
    return;
  }
  remove_partial_output();
  remove_empty_output_dirs();
  // The default action now: the process ends as killed by `sig` (its status says so).
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);
  std::raise(sig);
}

}  // namespace

void install_signal_handlers() {
  main_thread = pthread_self();
  // Output to a pipe whose reader has gone (descent train ... | head) fails with EPIPE, which
  // the commands report (exit 2) after saving what they trained, instead of SIGPIPE ending the
  // process mid-run with nothing saved.
  std::signal(SIGPIPE, SIG_IGN);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // A signal the shell ignores (nohup, a background job's SIGINT) stays ignored.
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(sig, &action, nullptr);
  }
}

GracefulStop::GracefulStop() {
  graceful = 1;
}

GracefulStop::~GracefulStop() {
  graceful = 0;
}

int stop_signal() noexcept {
  return requested;
}

}  // namespace descent::cli
