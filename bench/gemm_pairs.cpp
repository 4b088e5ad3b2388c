// descent_gemm_pairs: descent::sgemm against oneDNN's dnnl_sgemm, call by call.
//
//   descent_gemm_pairs [--threads T] [--calls N] [--offset F] SHAPE...
//
// SHAPE is TT:MxNxK, TT the transposes of A and B (NN, NT, TN or TT), for instance
// NN:512x512x512 or TN:256x784x512 (C = op(A) op(B), op(A) m x k, row-major, as
// descent_bench's kernels/gemm/ shapes). Each shape runs N calls of each library, alternating
// (descent, then oneDNN, then descent, ...), and prints both libraries' best and median
// GFLOP/s and the median over the pairs of oneDNN's time / descent's (above 1: descent is
// faster). On a host whose speed drifts from second to second the two calls of a pair see the
// same machine, so the pairs' ratio is steadier than rates measured a second apart; the first
// tenth of the calls is a warm-up and left out. The operands start on a 64-byte line, as
// descent's matrices do, or F floats past one (--offset 4: 16 bytes, as large std::vector
// buffers commonly start).
//
// OpenMP's threads spin after each oneDNN call unless OMP_WAIT_POLICY is passive, and on
// two threads that spin takes the cores from descent's next call: where it is unset, the
// program sets it to passive and starts itself again, once (libgomp reads it before main). A
// value set by the caller is left as it is.
//
// Each shape's two results are compared at the end (at most 1e-5 x K apart, the operands
// being in [-1, 1]): a wrong product exits 1 rather than timing it. Each operand may hold at
// most 2^28 floats (1 GiB).

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <descent/descent.hpp>

#include "bench_util.hpp"
#include "peers/blas_peers.hpp"

namespace {

using descent::Trans;
using Clock = std::chrono::steady_clock;

struct Shape {
  Trans ta = Trans::no, tb = Trans::no;
  std::size_t m = 0, n = 0, k = 0;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr,
               "descent_gemm_pairs: error: %s\n"
               "usage: descent_gemm_pairs [--threads T] [--calls N] [--offset F] SHAPE... "
               "(SHAPE: NN:512x512x512, TN:256x784x512, ...)\n",
               message.c_str());
  std::exit(2);
}

std::size_t parse_count(const std::string& text, const char* what, std::size_t least,
                        std::size_t most) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0])) == 0 || *end != '\0' ||
      value < least || value > most)
    usage_error(std::string(what) + " \"" + text + "\" is not a whole number from " +
                std::to_string(least) + " to " + std::to_string(most));
  return static_cast<std::size_t>(value);
}

Shape parse_shape(const std::string& text) {
  Shape s;
  const std::size_t colon = text.find(':');
  const std::string trans = text.substr(0, colon);
  if (colon == std::string::npos || trans.size() != 2 ||
      trans.find_first_not_of("NT") != std::string::npos)
    usage_error("shape \"" + text + "\" does not start with NN:, NT:, TN: or TT:");
  s.ta = trans[0] == 'T' ? Trans::yes : Trans::no;
  s.tb = trans[1] == 'T' ? Trans::yes : Trans::no;
  std::size_t* sides[] = {&s.m, &s.n, &s.k};
  std::size_t begin = colon + 1;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t end = i < 2 ? text.find('x', begin) : text.size();
    if (end == std::string::npos)
      usage_error("shape \"" + text + "\" does not have three sides MxNxK");
    *sides[i] = parse_count(text.substr(begin, end - begin), "a side of the shape", 1, 1 << 16);
    begin = end + 1;
  }
  constexpr std::size_t kMostFloats = std::size_t{1} << 28;
  if (s.m * s.k > kMostFloats || s.k * s.n > kMostFloats || s.m * s.n > kMostFloats)
    usage_error("shape \"" + text + "\" has an operand of more than 2^28 floats (1 GiB)");
  return s;
}

// As the command line writes it: NN:512x512x512.
std::string name(const Shape& s) {
  return std::string(1, s.ta == Trans::yes ? 'T' : 'N') + (s.tb == Trans::yes ? 'T' : 'N') + ":" +
         std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// n floats from random_floats(n, seed), `offset` floats past a 64-byte line.
descent::AlignedBuffer<float> operand(std::size_t n, std::uint64_t seed, std::size_t offset) {
  const std::vector<float> values = bench::random_floats(n, seed);
  descent::AlignedBuffer<float> buffer(n + offset);
  std::copy(values.begin(), values.end(), buffer.data() + offset);
  return buffer;
}

void run(const Shape& s, std::size_t calls, std::size_t offset) {
  const std::size_t lda = s.ta == Trans::no ? s.k : s.m;
  const std::size_t ldb = s.tb == Trans::no ? s.n : s.k;
  const auto a_buffer = operand(s.m * s.k, 1, offset), b_buffer = operand(s.k * s.n, 2, offset);
  descent::AlignedBuffer<float> c_buffer(s.m * s.n + offset), peer_buffer(s.m * s.n + offset);
  const float* const a = a_buffer.data() + offset;
  const float* const b = b_buffer.data() + offset;
  float* const c = c_buffer.data() + offset;
  float* const c_peer = peer_buffer.data() + offset;
  std::vector<double> ours, theirs, ratio;
  for (std::size_t call = 0; call < calls; ++call) {
    const auto t0 = Clock::now();
    descent::sgemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a, lda, b, ldb, 0.0f, c, s.n);
    const auto t1 = Clock::now();
    bench::peers::sgemm(bench::peers::Blas::onednn, s.ta, s.tb, s.m, s.n, s.k, 1.0f, a, lda, b, ldb,
                        0.0f, c_peer, s.n);
    const auto t2 = Clock::now();
    if (call < calls / 10) continue;
    ours.push_back(std::chrono::duration<double>(t1 - t0).count());
    theirs.push_back(std::chrono::duration<double>(t2 - t1).count());
    ratio.push_back(theirs.back() / ours.back());
  }
  double apart = 0.0;
  for (std::size_t i = 0; i < s.m * s.n; ++i)
    apart = std::max(apart, static_cast<double>(std::fabs(c[i] - c_peer[i])));
  if (!(apart <= 1e-5 * static_cast<double>(s.k))) {
    std::fprintf(stderr,
                 "descent_gemm_pairs: error: %s: descent's and oneDNN's products differ by up "
                 "to %g\n",
                 name(s).c_str(), apart);
    std::exit(1);
  }
  const double gflop =
      2e-9 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  const auto best = [](const std::vector<double>& v) {
    return *std::min_element(v.begin(), v.end());
  };
  std::printf(
      "%s threads %zu  descent %6.1f best %6.1f median  onednn %6.1f best "
      "%6.1f median  GFLOP/s  ratio %.3f\n",
      name(s).c_str(), descent::threads(), gflop / best(ours), gflop / median(ours),
      gflop / best(theirs), gflop / median(theirs), median(ratio));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr &&
      std::getenv("DESCENT_GEMM_PAIRS_RESTARTED") == nullptr) {
    if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0 &&
        setenv("DESCENT_GEMM_PAIRS_RESTARTED", "1", 1) == 0)
      execv("/proc/self/exe", argv);  // returns only on failure
    std::fprintf(stderr,
                 "descent_gemm_pairs: warning: could not restart with "
                 "OMP_WAIT_POLICY=passive; oneDNN's threads will spin\n");
  }
  if (!bench::peers::available(bench::peers::Blas::onednn))
    usage_error("this build has no oneDNN (apt-get install libdnnl-dev, then configure again)");
  try {
    (void)descent::active_isa();  // DESCENT_ISA, checked before anything runs
  } catch (const descent::Error& e) {
    std::fprintf(stderr, "descent_gemm_pairs: error: %s\n", e.what());
    return 2;
  }
  std::size_t threads = 1, calls = 100, offset = 0;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: descent_gemm_pairs [--threads T] [--calls N] [--offset F] SHAPE...\n"
          "Times descent::sgemm and dnnl_sgemm call by call, alternating, on each SHAPE\n"
          "(NN:512x512x512, TN:256x784x512, ...: op(A) is M x K, op(B) K x N, C M x N),\n"
          "and prints GFLOP/s and the median of oneDNN's time over descent's.\n"
          "  --threads T   threads for both (default 1)\n"
          "  --calls N     calls of each per shape, at least 2 (default 100)\n"
          "  --offset F    operands F floats past a cache line, 0 to 15 (default 0)\n");
      return 0;
    }
    if (arg.starts_with("--") && arg.find('=') != std::string::npos)
      usage_error(arg + ": give the value after a space (" + arg.substr(0, arg.find('=')) + " N)");
    // An option's value, least to most (a median needs at least two calls).
    const auto value = [&](std::size_t least, std::size_t most) {
      if (i + 1 == argc) usage_error(arg + " needs a value");
      return parse_count(argv[++i], arg.c_str(), least, most);
    };
    if (arg == "--offset") {
      offset = value(0, 15);
    } else if (arg == "--threads") {
      threads = value(1, 1024);
    } else if (arg == "--calls") {
      calls = value(2, 1000000);
    } else {
      shapes.push_back(parse_shape(arg));
    }
  }
  if (shapes.empty()) usage_error("no shape given");
  descent::set_threads(threads);
  bench::peers::set_threads(threads);
  try {
    for (const Shape& s : shapes) run(s, calls, offset);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "descent_gemm_pairs: error: out of memory for the operands\n");
    return 2;
  }
  return 0;
}
