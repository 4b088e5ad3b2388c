// "No allocation inside a training step": after the trainer is sized (reserve/fit), steps
// call operator new zero times, for every optimizer and on 1 and 2 threads. This binary
// replaces the global operator new to count, so it holds only this test.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "descent/descent.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace descent {
namespace {

class NoAllocation : public ::testing::TestWithParam<std::tuple<const char*, std::size_t>> {};

TEST_P(NoAllocation, StepsAfterReserveAllocateNothing) {
  const auto [spec, threads] = GetParam();
  set_threads(threads);
  Network net = Network::mlp(784, {256, 64}, 10, Activation::relu);
  net.initialize(Init::automatic, 1);
  auto optimizer = make_optimizer(spec);
  Trainer trainer(net, *optimizer, Loss::cross_entropy);
  const std::size_t batch = 160;
  Matrix x(batch, 784);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 13) * 0.1f - 0.6f;
  std::vector<std::uint32_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<std::uint32_t>(i % 10);
  ASSERT_GT(batch / trainer.shard_rows(batch), 1u);  // the parallel path, not one shard
  // 8 threads: more threads than shards, so the shards' products are split across threads too.
  trainer.reserve(batch);
  // Warm-up: each worker thread's GEMM packing buffers and oneTBB's own per-thread state are
  // allocated on first use, and with more threads than cores the workers join over several steps.
  const int warm_up = threads > 2 ? 30 : 3;
  // Steps on selected rows as well (fit()'s shuffled batches: the shards gather them).
  std::vector<std::size_t> rows(batch);
  for (std::size_t i = 0; i < batch; ++i) rows[i] = (i * 7) % batch;
  for (int i = 0; i < warm_up; ++i) trainer.train_step(x, {labels, {}});
  trainer.train_step(x, {labels, {}}, rows);
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 3; ++i) trainer.train_step(x, {labels, {}});
  for (int i = 0; i < 2; ++i) trainer.train_step(x, {labels, {}}, rows);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u) << spec << " on " << threads << " threads";
  set_threads(0);
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, NoAllocation,
    ::testing::Combine(::testing::Values("sgd", "momentum", "nesterov", "adagrad",
                                         "rmsprop:centered=true,momentum=0.5", "adam:amsgrad=true",
                                         "adamw", "nadam", "radam", "adamax", "adadelta"),
                       ::testing::Values(std::size_t{1}, std::size_t{2}, std::size_t{8})));

}  // namespace
}  // namespace descent
