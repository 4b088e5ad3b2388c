// GEMM benchmarks: descent::sgemm beside OpenBLAS's cblas_sgemm and oneDNN's dnnl_sgemm, in
// the same binary and run, each timing the public call on unpacked row-major inputs, on
// squares and on the products of an MLP's training step; the FMA peak they are measured
// against; and a dense layer's fused forward against the bare product of the same shape.
//
//   kernels/fma_peak/threads:T                  the cores' FMA rate (GFLOPS counter)
//   kernels/fma_peak/cpu:N                      one thread's FMA rate pinned to CPU N, for
//                                               each CPU the process may run on (Linux)
//   kernels/handoff/same|other_core/KiB:N       reading N KiB the same thread, or another
//                                               one, has just written (GBps counter)
//   kernels/handoff/overwrite/same|other_core/KiB:N
//                                               overwriting N KiB the same thread, or
//                                               another one, has just read (GBps counter)
//   kernels/gemm/LIB/SHAPE/threads:T            GFLOPS and peak_fraction counters
//   kernels/dense_forward/SHAPE/threads:T       Network::forward of one ReLU layer against the
//                                               bare product, timed alternately
//
// SHAPE is square/N (NN), or fwd|dx|dw/B/IN-OUT for a layer IN -> OUT on a batch of B:
// forward Y = X W^T (NT: m=B, n=OUT, k=IN), input gradient dX = dY W (NN: m=B, n=IN, k=OUT),
// weight gradient dW = dY^T X (TN: m=OUT, n=IN, k=B). Threads are pinned for every library:
// descent::set_threads, openblas_set_num_threads, omp_set_num_threads (oneDNN's runtime;
// bench/peers/blas_peers.cpp).
// bench/gemm_report.py turns a JSON run into the comparison table.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

#include <descent/descent.hpp>

#include "bench_util.hpp"
#include "peers/blas_peers.hpp"

namespace {

using descent::Trans;

using bench::peak_flops;
using bench::random_aligned;
using bench::random_floats;

#ifdef __linux__
// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

// Pins the calling thread to `cpu`; false where that is not allowed.
bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}
#endif

// The FMA loop on `threads` threads, or (cpu >= 0, Linux) on one thread pinned to `cpu`. A
// shared host can give one virtual CPU less of a core than another for minutes (on the
// development VM, one ran the loop at 195-204 GFLOP/s while the other ran it at 225-226): a
// one-thread case's result then depends on where it ran, and a step split evenly over both
// waits for the slower.
void run_fma_peak(benchmark::State& state, std::size_t threads, int cpu = -1) {
  constexpr std::size_t kIterations = std::size_t{1} << 22;
  double flops = 0.0;
  std::atomic<bool> unpinned{false};
  for (auto _ : state) {
    std::vector<double> done(threads, 0.0);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&done, &unpinned, t, cpu] {
#ifdef __linux__
        if (cpu >= 0 && !pin_to(cpu)) {
          unpinned = true;
          return;
        }
#endif
        done[t] = descent::fma_loop(kIterations);
      });
    }
    for (auto& th : pool) th.join();
    if (unpinned) {
      state.SkipWithError(fmt::format("cannot pin a thread to CPU {}", cpu).c_str());
      break;  // the rest of the loop is skipped; no rate to report
    }
    for (double d : done) flops += d;
  }
  if (unpinned) return;
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(descent::to_string(descent::active_isa())));
}

// One of a training step's two handoffs of `bytes` between threads, or the same work on one
// thread: the parameters' update overwrites what every core's forward pass has read, and the
// next pass reads what one core has written.
//  - read (overwrite = false): this thread writes the buffer, then descent::sum_squares reads
//    it, timed, on another thread (other) or this one. Where two cores share a cache the two
//    rates are close; where they do not, each byte handed over (the shards' gradients into
//    the reduction, the updated parameters into the next forward pass) moves at the second.
//  - overwrite: another thread (other) or this one reads the buffer, then this thread
//    rescales it in place (descent::scale, timed), as an optimizer's update does. Before
//    each store, the copy of the line that the other core read must be invalidated; how long
//    that takes depends on where the two cores sit (on the development VM, on where its host
//    has put the two virtual CPUs at the time).
void run_handoff(benchmark::State& state, bool other, bool overwrite, std::size_t bytes) {
  const std::size_t n = bytes / sizeof(float);
  descent::AlignedBuffer<float> buffer(n);
  std::fill(buffer.data(), buffer.data() + n, 1.0f);
  // 0: the other thread's turn; 1: this thread's; 2: the other thread stops.
  std::atomic<int> phase{1};
  double read_seconds = 0.0, total_seconds = 0.0, sink = 0.0;
  auto read = [&] {
    const auto start = std::chrono::steady_clock::now();
    sink += descent::sum_squares(n, buffer.data());
    read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::thread reader;
  if (other) {
    reader = std::thread([&] {
      for (;;) {
        int p;
        while ((p = phase.load(std::memory_order_acquire)) == 1) std::this_thread::yield();
        if (p == 2) return;
        read();
        phase.store(1, std::memory_order_release);
      }
    });
  }
  auto read_here_or_there = [&] {
    if (other) {
      phase.store(0, std::memory_order_release);
      while (phase.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    } else {
      read();
    }
  };
  float value = 0.0f, alpha = 2.0f;
  for (auto _ : state) {
    double seconds = 0.0;
    if (overwrite) {
      read_here_or_there();
      const auto start = std::chrono::steady_clock::now();
      descent::scale(n, alpha, buffer.data());
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      alpha = 1.0f / alpha;  // 2, 1/2, 2, ...: the values never drift towards subnormals
    } else {
      value += 1.0f;
      std::fill(buffer.data(), buffer.data() + n, value);
      read_here_or_there();
      seconds = read_seconds;
    }
    state.SetIterationTime(seconds);
    total_seconds += seconds;
  }
  if (other) {
    phase.store(2, std::memory_order_release);
    reader.join();
  }
  benchmark::DoNotOptimize(sink);
  state.counters["GBps"] =
      static_cast<double>(bytes) * static_cast<double>(state.iterations()) / total_seconds * 1e-9;
}

enum class Lib { descent, openblas, onednn };

const char* lib_name(Lib lib) {
  switch (lib) {
    case Lib::descent:
      return "descent";
    case Lib::openblas:
      return "openblas";
    case Lib::onednn:
      return "onednn";
  }
  return "?";
}

struct Shape {
  std::string name;
  Trans ta, tb;
  std::size_t m, n, k;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (std::size_t n : {64, 128, 256, 512, 1024, 2048})
    s.push_back({"square/" + std::to_string(n), Trans::no, Trans::no, n, n, n});
  const std::pair<std::size_t, std::size_t> layers[] = {{784, 256}, {256, 256}, {256, 10}};
  for (std::size_t batch : {32, 128, 512}) {
    for (const auto& [in, out] : layers) {
      const std::string tail =
          std::to_string(batch) + "/" + std::to_string(in) + "-" + std::to_string(out);
      s.push_back({"fwd/" + tail, Trans::no, Trans::yes, batch, out, in});
      s.push_back({"dx/" + tail, Trans::no, Trans::no, batch, in, out});
      s.push_back({"dw/" + tail, Trans::yes, Trans::no, out, in, batch});
    }
  }
  return s;
}

void set_library_threads(std::size_t threads) {
  descent::set_threads(threads);
  bench::peers::set_threads(threads);
}

void run_gemm(benchmark::State& state, Lib lib, const Shape& shape, std::size_t threads) {
  set_library_threads(threads);
  const std::size_t m = shape.m, n = shape.n, k = shape.k;
  // Row-major, as stored: op(A) is m x k, op(B) is k x n.
  const std::size_t lda = shape.ta == Trans::no ? k : m;
  const std::size_t ldb = shape.tb == Trans::no ? n : k;
  // Operands 64-byte aligned, as a descent::Matrix is: from std::vector, C's alignment would
  // change with the allocator's history, and a C whose vectors straddle cache lines costs a
  // short-K product several percent (README, "Matrix products").
  const auto a = random_aligned(m * k, 1), b = random_aligned(k * n, 2);
  descent::AlignedBuffer<float> c(m * n);
  auto call = [&] {
    switch (lib) {
      case Lib::descent:
        descent::sgemm(shape.ta, shape.tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                       c.data(), n);
        break;
      case Lib::openblas:
        bench::peers::sgemm(bench::peers::Blas::openblas, shape.ta, shape.tb, m, n, k, 1.0f,
                            a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
        break;
      case Lib::onednn:
        bench::peers::sgemm(bench::peers::Blas::onednn, shape.ta, shape.tb, m, n, k, 1.0f, a.data(),
                            lda, b.data(), ldb, 0.0f, c.data(), n);
        break;
    }
  };
  call();  // warm: first-touch, packing buffers, thread pools
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops =
      2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // GFLOPS / peak GFLOPS: a rate divided by a constant stays a rate counter's value.
  state.counters["peak_fraction"] = benchmark::Counter(
      flops / peak_flops(threads), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["m"] = static_cast<double>(m);
  state.counters["n"] = static_cast<double>(n);
  state.counters["k"] = static_cast<double>(k);
  state.SetLabel(std::string(descent::to_string(descent::active_isa())));
  set_library_threads(0);
}

// One ReLU layer IN -> OUT on B rows: Network::forward (the product with bias and ReLU fused
// into its store) against descent::sgemm of the same shape, timed alternately in the same
// loop so that both see the same machine. Counters: both rates and the layer's extra time.
void run_dense_forward(benchmark::State& state, std::size_t batch, std::size_t in, std::size_t out,
                       std::size_t threads) {
  descent::set_threads(threads);
  descent::Network net(in, {descent::LayerSpec{out, descent::Activation::relu}});
  net.initialize(descent::Init::automatic, 1);
  descent::Workspace ws(net, batch);
  ws.set_parallel(true);
  descent::Matrix x(batch, in);
  const auto values = random_floats(batch * in, 3);
  std::copy(values.begin(), values.end(), x.data());
  // Aligned as the layer's workspace is, so that the two are timed on the same footing.
  descent::AlignedBuffer<float> y(batch * out);
  const float* w = net.parameters().data();  // [out, in], as the layer reads it
  auto product = [&] {
    descent::sgemm(Trans::no, Trans::yes, batch, out, in, 1.0f, x.data(), in, w, in, 0.0f, y.data(),
                   out);
  };
  benchmark::DoNotOptimize(net.forward(x.view(), ws));
  product();
  using Clock = std::chrono::steady_clock;
  double layer_seconds = 0.0, product_seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    benchmark::DoNotOptimize(net.forward(x.view(), ws));
    benchmark::ClobberMemory();
    const auto t1 = Clock::now();
    product();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    const auto t2 = Clock::now();
    layer_seconds += std::chrono::duration<double>(t1 - t0).count();
    product_seconds += std::chrono::duration<double>(t2 - t1).count();
  }
  const double flops =
      2.0 * static_cast<double>(batch * in * out) * static_cast<double>(state.iterations());
  state.counters["layer_GFLOPS"] = flops / layer_seconds * 1e-9;
  state.counters["product_GFLOPS"] = flops / product_seconds * 1e-9;
  state.counters["layer_extra_time"] = layer_seconds / product_seconds - 1.0;
  descent::set_threads(0);
}

const bool registered = [] {
  for (std::size_t threads : bench::thread_counts()) {
    benchmark::RegisterBenchmark(
        ("kernels/fma_peak/threads:" + std::to_string(threads)).c_str(),
        [threads](benchmark::State& state) { run_fma_peak(state, threads); })
        ->UseRealTime();
  }
#ifdef __linux__
  for (int cpu : allowed_cpus()) {
    benchmark::RegisterBenchmark(("kernels/fma_peak/cpu:" + std::to_string(cpu)).c_str(),
                                 [cpu](benchmark::State& state) { run_fma_peak(state, 1, cpu); })
        ->UseRealTime();
  }
#endif
  // Another thread's read needs a second core to run on (on one, each handoff would wait for
  // the scheduler).
  if (std::thread::hardware_concurrency() >= 2) {
    for (bool overwrite : {false, true}) {
      for (std::size_t kib : {1024, 4096}) {
        for (bool other : {false, true}) {
          benchmark::RegisterBenchmark(
              fmt::format("kernels/handoff/{}{}/KiB:{}", overwrite ? "overwrite/" : "",
                          other ? "other_core" : "same_core", kib)
                  .c_str(),
              [other, overwrite, kib](benchmark::State& state) {
                run_handoff(state, other, overwrite, kib * 1024);
              })
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  std::vector<Lib> libs = {Lib::descent};
  if (bench::peers::available(bench::peers::Blas::openblas)) libs.push_back(Lib::openblas);
  if (bench::peers::available(bench::peers::Blas::onednn)) libs.push_back(Lib::onednn);
  // Per shape and thread count, the libraries one after another: compared close in time.
  for (const Shape& shape : shapes()) {
    for (std::size_t threads : bench::thread_counts()) {
      for (Lib lib : libs) {
        const std::string name = std::string("kernels/gemm/") + lib_name(lib) + "/" + shape.name +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(),
                                     [lib, shape, threads](benchmark::State& state) {
                                       run_gemm(state, lib, shape, threads);
                                     })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  for (std::size_t batch : {32, 128, 512}) {
    for (const auto& [in, out] : {std::pair<std::size_t, std::size_t>{784, 256}, {256, 256}}) {
      for (std::size_t threads : bench::thread_counts()) {
        const std::string name = "kernels/dense_forward/fwd/" + std::to_string(batch) + "/" +
                                 std::to_string(in) + "-" + std::to_string(out) +
                                 "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(),
                                     [batch, in, out, threads](benchmark::State& state) {
                                       run_dense_forward(state, batch, in, out, threads);
                                     })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace
