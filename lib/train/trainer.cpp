#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "core/fp_env.hpp"
#include "core/memory.hpp"
#include "core/view_check.hpp"
#include "descent/error.hpp"
#include "descent/parallel.hpp"
#include "descent/rng.hpp"
#include "descent/train.hpp"
#include "kernels/gemm.hpp"
#include "kernels/kernel_table.hpp"
#include "optim/common.hpp"
#include "parallel/parallel.hpp"
#include "train/train_detail.hpp"

namespace descent {
namespace {

// "4.7 GiB", "512 MiB", "96 KiB", "100 bytes": a size for messages.
std::string byte_size_text(std::size_t bytes) {
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  double size = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (size >= 1024.0 && unit + 1 < std::size(kUnits)) {
    size /= 1024.0;
    ++unit;
  }
  return size < 10.0 ? fmt::format("{:.1f} {}", size, kUnits[unit])
                     : fmt::format("{:.0f} {}", size, kUnits[unit]);
}

// A shard should carry at least this much arithmetic (forward + backward), so that small
// batches and narrow models are not cut into pieces too small to pay for a task, and so that
// its weight-gradient products (K = the shard's rows) run at the GEMM's full speed: 64 rows of
// a 784-256-256-10 MLP.
constexpr double kMinShardFlops = 1.0e8;
// and a batch is cut into at most this many shards: each has its own gradient buffer, which the
// reduction reads once more per step. Where there are more threads than shards, the shards'
// products are split across threads as well (bit-identical for any split).
constexpr std::size_t kMaxShards = 4;
// A batch too small to cut into two shards, of a model with fewer parameters than this, and
// of fewer forward and backward FLOPs than serial_step_flops() below, is stepped on one
// thread (products, norms and update): waking threads and moving the gradient and the
// parameters between cores would cost more than they save (tiny-dnn#714). Larger models
// still split the element-wise passes over their big buffers, and larger batches their
// products as well.
constexpr std::size_t kSerialStepParameters = std::size_t{1} << 20;
// Where splitting a one-shard step starts to pay depends on how fast one core does the
// arithmetic: a split step pays a near-fixed price for handing the parameters between cores
// (about 110 us on the 2-core Zen 5 VM in a slow phase: sgd batch 4 109-112 -> 221-226 us),
// which only a long serial step covers. 784-256-256-10 MLP (1.6 MFLOP per row),
// 2 threads, us per step, serial -> split, three alternating rounds:
// - AVX-512 on Zen 5 (205 GFLOP/s per core), in a slow phase: sgd batch 8 130-134 -> 224-235,
//   batch 16 183-184 -> 243-254, batch 32 265-272 -> 328-362, batch 48 386-391 -> 374-388,
//   batch 64 477-482 -> 445-482; adam alike (batch 48 396-416 -> 380-396): even from 48 rows.
// - AVX2 on an EPYC without AVX-512 (85 GFLOP/s per core): sgd batch 1 139-161 -> 176-191,
//   adam batch 1 292-295 -> 247-253; batch 8 sgd 270-294 -> 217-224, adam 378-385 ->
//   286-297; batch 32 sgd 637-667 -> 457-481, adam 686-707 -> 615-650.
// - AVX2 dispatched on the Zen 5 VM (110 GFLOP/s per core), 1 -> 2 threads with split steps,
//   medians of 6: sgd batch 8 276 -> 312, adam 318 -> 376; batch 32 sgd 562 -> 523, adam
//   579 -> 592.
// So where the split pays depends on the host as much as on the ISA. The lines below keep
// batches of up to 16 rows of this MLP serial everywhere (no slower on 2 threads than on
// 1), at the price of the EPYC's gain at batch 8. A core whose AVX-512 runs at the AVX2 rate
// (Zen 4) would gain from splitting sooner than this lets it; it is never slower for it.
double serial_step_flops(Isa isa) noexcept {
  return isa == Isa::avx512 ? 8.0e7 : 3.0e7;  // batches 1-49 and 1-18 of the MLP above
}
// A shard runs forward and backward in passes of at most this many floats of activations
// (2 MiB; 1008 rows of a 784-256-256-10 MLP), accumulating its gradient, so that a full-batch
// step works in cache rather than in memory.
constexpr std::size_t kPassFloats = std::size_t{1} << 19;
// Chunks of an evaluation run on at most this many workers (each has its own workspace).
constexpr std::size_t kEvalWorkers = 16;
// A shard gathering its rows requests this many rows ahead of the one it copies.
constexpr std::size_t kGatherAhead = 3;
// Floats per piece of the parallel gradient reduction.
constexpr std::size_t kReduceChunk = 16384;
// Exact distributed steps: rank c finishes the reduction tree on slice c of the parameter
// vector; slices start at multiples of this many floats (1 KiB).
constexpr std::size_t kSliceAlign = 256;
// The most floats the exact reduction's exchange moves to or from one rank at once (MPI
// counts are ints).
constexpr std::size_t kMaxExchange = (std::size_t{1} << 31) - 1;
// A fixed shard size (TrainOptions::shard_rows) may cut a batch into at most this many shards.
constexpr std::size_t kMaxShardCount = 1024;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::size_t ceil_div(std::size_t a, std::size_t b) {
  return (a + b - 1) / b;
}

// Correct predictions in a batch: argmax for cross_entropy, the sign of the logit against a
// 0/1 target for bce_with_logits; 0 for mse.
std::size_t count_correct(Loss loss, ConstMatrixView out, const Targets& t) {
  std::size_t correct = 0;
  if (loss == Loss::cross_entropy) {
    for (std::size_t i = 0; i < out.rows; ++i) {
      const float* row = out.row(i);
      const std::size_t best =
          static_cast<std::size_t>(std::max_element(row, row + out.cols) - row);
      correct += best == t.labels[i] ? 1 : 0;
    }
  } else if (loss == Loss::bce_with_logits) {
    for (std::size_t i = 0; i < out.rows; ++i)
      for (std::size_t j = 0; j < out.cols; ++j)
        correct += (out(i, j) > 0.0f) == (t.values(i, j) >= 0.5f) ? 1 : 0;
  }
  return correct;
}

// The shards [first, last) that rank `rank` of `ranks` computes: contiguous runs, the first
// (shards % ranks) ranks one shard more than the others.
std::pair<std::size_t, std::size_t> rank_range(std::size_t shards, std::size_t ranks,
                                               std::size_t rank) {
  const std::size_t base = shards / ranks, extra = shards % ranks;
  const std::size_t first = rank * base + std::min(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

// The reduction tree over `shards` shards: at stride 1, 2, 4, ... node i takes in node
// i + stride, making the node of shards [i, min(i + 2 stride, shards)). Whether that node
// lies within shards [first, last):
bool node_within(std::size_t i, std::size_t stride, std::size_t shards,
                 std::pair<std::size_t, std::size_t> range) {
  return i >= range.first && std::min(i + 2 * stride, shards) <= range.second;
}

// Calls f(i) with the first shard of each of the largest tree nodes that tile the shards
// [first, last), in order: the partial sums a rank holding those shards can finish alone.
template <class F>
void for_each_node(std::pair<std::size_t, std::size_t> range, std::size_t shards, const F& f) {
  for (std::size_t i = range.first; i < range.second;) {
    std::size_t size = 1;
    while (i % (2 * size) == 0 && i + size < shards &&
           std::min(i + 2 * size, shards) <= range.second)
      size *= 2;
    f(i);
    i = std::min(i + size, shards);
  }
}

// How many such nodes tile the shards [first, last).
std::size_t count_nodes(std::pair<std::size_t, std::size_t> range, std::size_t shards) {
  std::size_t nodes = 0;
  for_each_node(range, shards, [&](std::size_t) { ++nodes; });
  return nodes;
}

// The tree's additions that `wanted(i, stride)` selects, in the tree's order, in parallel over
// fixed pieces of the vectors: every element sees the same additions on any thread count.
template <class Wanted>
void add_tree(const kernels::KernelTable& k, std::span<float* const> nodes, std::size_t params,
              const Wanted& wanted) {
  const std::size_t shards = nodes.size();
  parallel::for_each_index(ceil_div(params, kReduceChunk), [&](std::size_t chunk) {
    const std::size_t first = chunk * kReduceChunk;
    const std::size_t count = std::min(kReduceChunk, params - first);
    for (std::size_t stride = 1; stride < shards; stride *= 2) {
      for (std::size_t i = 0; i + stride < shards; i += 2 * stride) {
        if (wanted(i, stride)) k.axpy(count, 1.0f, nodes[i + stride] + first, nodes[i] + first);
      }
    }
  });
}

}  // namespace

namespace detail {

// Independent seeds for the split, the initialisation and the shuffle, from one user seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  Rng rng(seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1)));
  return rng.next_u64();
}

void check_values(const Dataset& data, std::string_view role) {
  data.check_finite(fmt::format("{} data", role));
}

void check_classes(Loss loss, const Dataset& data, std::string_view role) {
  if (data.task == Task::classification && loss != Loss::bce_with_logits && data.rows() > 0 &&
      std::adjacent_find(data.labels.begin(), data.labels.end(), std::not_equal_to<>()) ==
          data.labels.end()) {
    throw Error(
        fmt::format("{} \"{}\": classification needs at least 2 classes, every row has class {}",
                    role, data.name, data.labels.front()));
  }
}

void check_data(const Network& network, Loss loss, const Dataset& data, std::string_view role,
                bool scan_values) {
  if (data.feature_count() != network.inputs()) {
    throw Error(fmt::format("{} data \"{}\" has {} features but the network takes {} inputs", role,
                            data.name, data.feature_count(), network.inputs()));
  }
  // A Dataset can be built by hand: its parts must agree before any kernel reads them.
  data.check_parts(fmt::format("{} data", role));
  if (scan_values) check_values(data, role);
  switch (loss) {
    case Loss::cross_entropy:
      if (data.task != Task::classification) {
        throw Error(fmt::format("cross_entropy needs class labels, but \"{}\" is a regression set",
                                data.name));
      }
      if (data.classes > network.outputs()) {
        throw Error(fmt::format("\"{}\" has {} classes but the network has {} outputs", data.name,
                                data.classes, network.outputs()));
      }
      return;
    case Loss::bce_with_logits:
      if (data.task == Task::classification) {
        if (data.classes != 2 || network.outputs() != 1) {
          throw Error(
              fmt::format("bce_with_logits on class labels needs 2 classes and 1 output; "
                          "\"{}\" has {} classes, the network {} outputs",
                          data.name, data.classes, network.outputs()));
        }
        return;
      }
      // Probabilities (torch does not check, and trains on anything: a regression set's
      // targets gave a negative loss and a "validation accuracy" of 1).
      if (data.task == Task::regression) {
        for (std::size_t i = 0; i < data.values.rows(); ++i) {
          for (std::size_t j = 0; j < data.values.cols(); ++j) {
            const float v = data.values(i, j);
            if (!(v >= 0.0f && v <= 1.0f)) {
              throw Error(
                  fmt::format("bce_with_logits needs targets in [0, 1] (0/1 labels or "
                              "probabilities): {} data \"{}\": target {} of row {} is {} (a "
                              "regression set? use mse; rows and columns count from 0)",
                              role, data.name, j, i, number_text(v)));
            }
          }
        }
      }
      [[fallthrough]];
    case Loss::mse:
      if (data.task != Task::regression) {
        throw Error(
            fmt::format("{} needs numeric targets, but \"{}\" has class labels (use "
                        "cross_entropy)",
                        to_string(loss), data.name));
      }
      if (data.values.cols() != network.outputs()) {
        throw Error(fmt::format("\"{}\" has {} target columns but the network has {} outputs",
                                data.name, data.values.cols(), network.outputs()));
      }
      return;
  }
}

PreparedTargets prepare_targets(Loss loss, const Dataset& data) {
  PreparedTargets t;
  if (loss == Loss::bce_with_logits && data.task == Task::classification) {
    t.owned = Matrix(data.rows(), 1);
    for (std::size_t i = 0; i < data.rows(); ++i)
      t.owned(i, 0) = static_cast<float>(data.labels[i]);
    t.view = Targets{{}, t.owned.view()};
  } else {
    t.view = data.targets();
  }
  return t;
}

Targets slice(const Targets& t, std::size_t first, std::size_t count) {
  Targets s;
  if (!t.labels.empty()) s.labels = t.labels.subspan(first, count);
  if (t.values.data != nullptr) s.values = t.values.rows_range(first, count);
  return s;
}

Batch gather_rows(ConstMatrixView x, const Targets& t, std::span<const std::size_t> rows,
                  Matrix& x_out, std::span<std::uint32_t> labels_out, Matrix& values_out) {
  const std::size_t n = rows.size();
  const std::size_t row_bytes = x.cols * sizeof(float);
  // Every row's first line first: a miss each, all in flight together, and each row's page
  // found in the TLB before its copy starts.
  for (std::size_t i = 0; i < n; ++i) __builtin_prefetch(x.row(rows[i]), 0, 0);
  for (std::size_t i = 0; i < n; ++i) {
    // Rows from all over a large data set miss the cache: the row kGatherAhead on is
    // requested while this one is copied, so that several are in flight at once.
    if (i + kGatherAhead < n) {
      const char* next = reinterpret_cast<const char*>(x.row(rows[i + kGatherAhead]));
      for (std::size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(next + b, 0, 0);
    }
    std::memcpy(x_out.row(i), x.row(rows[i]), row_bytes);
  }
  Batch batch;
  batch.x = x_out.view().rows_range(0, n);
  if (!t.labels.empty()) {
    for (std::size_t i = 0; i < n; ++i) labels_out[i] = t.labels[rows[i]];
    batch.targets.labels = labels_out.first(n);
  }
  if (t.values.data != nullptr) {
    for (std::size_t i = 0; i < n; ++i)
      std::memcpy(values_out.row(i), t.values.row(rows[i]), t.values.cols * sizeof(float));
    batch.targets.values = values_out.view().rows_range(0, n);
  }
  return batch;
}

}  // namespace detail

Trainer::Trainer(Network& network, Optimizer& optimizer, Loss loss, TrainOptions options)
    : network_(network),
      optimizer_(optimizer),
      loss_(loss),
      options_(options),
      state_(std::make_unique<State>()) {
  state_->profiling = options.profile;
  if (loss != Loss::mse && loss != Loss::cross_entropy && loss != Loss::bce_with_logits)
    throw Error(fmt::format("loss {} is not one descent has", static_cast<int>(loss)));
  if (options.flush_denormals && !detail::kCanFlushDenormals) {
    throw Error(
        "flush_denormals: this build's CPU architecture has no flush-to-zero mode descent can set "
        "(x86-64 only)");
  }
  if (loss == Loss::cross_entropy && network.outputs() < 2) {
    throw Error("cross_entropy needs a network with at least 2 outputs (one per class)");
  }
}

Trainer::~Trainer() = default;

void Trainer::check_buffers_fit() const {
  const State& s = *state_;
  if (s.workspaces.empty()) return;
  if (!s.workspaces.front().fits(network_) || s.shard_x.front().cols() != network_.inputs() ||
      std::any_of(s.shard_gradients.begin(), s.shard_gradients.end(),
                  [&](const auto& g) { return g.size() != network_.parameter_count(); })) {
    throw Error(
        "this Trainer's buffers were made for a network of other layer sizes (was the network "
        "replaced after the first step?): make a new Trainer for it");
  }
}

std::pair<std::size_t, std::size_t> Trainer::shard_layout(std::size_t batch_rows) const {
  const std::size_t per_shard = shard_rows(batch_rows);
  const std::size_t shards = ceil_div(batch_rows, per_shard);
  if (shards > kMaxShardCount) {
    throw Error(
        fmt::format("shard_rows {} cuts a batch of {} rows into {} shards; at most {} (each has a "
                    "gradient buffer of its own): use larger shards",
                    per_shard, batch_rows, shards, kMaxShardCount));
  }
  // This process's shards: all of them alone; with ranks, the most any rank computes.
  const StepPlan plan = plan_step(batch_rows);
  std::size_t local_shards = shards, local_rows = per_shard;
  if (plan.exact_ranks) {
    local_shards = ceil_div(shards, plan.ranks);
  } else if (plan.ranks > 1) {
    local_shards = 1;
    for (std::size_t n : {batch_rows / plan.ranks, ceil_div(batch_rows, plan.ranks)}) {
      const std::size_t rows = shard_rows(std::max<std::size_t>(n, 1));
      local_shards = std::max(local_shards, ceil_div(n, rows));
      local_rows = std::max(local_rows, rows);
    }
  }
  return {std::max<std::size_t>(local_shards, 1), local_rows};
}

void Trainer::check_memory(std::size_t batch_rows, std::size_t extra_floats) const {
  const State& s = *state_;
  const auto [shards, rows] = shard_layout(batch_rows);
  const std::size_t params = network_.parameter_count();
  // Saturating: a sum past SIZE_MAX is as refused as SIZE_MAX.
  std::size_t floats = 0;
  auto add = [&](std::size_t count, std::size_t each) {
    std::size_t product = 0;
    if (__builtin_mul_overflow(count, each, &product) ||
        __builtin_add_overflow(floats, product, &floats))
      floats = SIZE_MAX;
  };
  // What reserve() and fit() will allocate that is not there yet: a gradient buffer per shard
  // but the first, the layers' packed weights, each shard's workspace and rows, the
  // optimizer's state, and fit's copies of the parameters (the last sound ones, and the best
  // ones under early stopping).
  const std::size_t have = std::count_if(s.shard_gradients.begin(), s.shard_gradients.end(),
                                         [&](const auto& g) { return g.size() == params; });
  if (shards > 1 && shards - 1 > have) add(shards - 1 - have, params);
  const std::size_t copies = packed_copies(plan_step(batch_rows));
  if (copies > 0 && s.packed_weights.size() < copies) {
    const auto& k = kernels::active();
    std::size_t packed = 0;
    for (const DenseLayer& layer : network_.layers())
      packed +=
          kernels::gemm_packed_b_size(k, Trans::yes, layer.inputs, layer.outputs, layer.inputs);
    add(copies - s.packed_weights.size(), packed);
  }
  const std::size_t rows_needed = std::min(rows, pass_rows());
  std::size_t freed = 0;  // the smaller workspaces reserve() frees first
  if (s.shard_capacity < rows_needed || s.workspaces.size() < shards) {
    std::size_t widths = network_.inputs() + network_.outputs() + 2 * network_.max_width();
    for (const DenseLayer& layer : network_.layers()) widths += layer.outputs;
    add(std::max(shards, s.workspaces.size()), std::max(s.shard_capacity, rows_needed) * widths);
    freed = s.workspaces.size() * s.shard_capacity * widths;
  }
  add(options_.stop.early_stopping_patience > 0 ? 2 : 1, params);
  add(1, optimizer_.unprepared_floats(params));
  add(1, extra_floats);
  if (floats != SIZE_MAX) floats -= std::min(floats, freed);
  if (floats == SIZE_MAX || floats > SIZE_MAX / sizeof(float) ||
      !detail::memory_left_for(floats * sizeof(float))) {
    throw Error(fmt::format(
        "out of memory: training this network of {} parameters ({} each copy) at batch {} "
        "needs at least {} more for its gradients, workspaces, optimizer state and copies of the "
        "parameters, "
        "and it would leave under {} MiB free: use a smaller network or batch",
        params, byte_size_text(params * sizeof(float)), batch_rows,
        floats == SIZE_MAX || floats > SIZE_MAX / sizeof(float)
            ? std::string("16 EiB")
            : byte_size_text(floats * sizeof(float)),
        detail::kKeepFreeMiB));
  }
}

void Trainer::reserve(std::size_t batch_rows) {
  State& s = *state_;
  const StepPlan plan = plan_step(batch_rows);
  const auto [local_count, local_rows] = shard_layout(batch_rows);
  const std::size_t shards = ceil_div(batch_rows, shard_rows(batch_rows));
  if (plan.exact_ranks) {
    // What the exchange moves: each rank's largest finished tree nodes, whole (sent, cut
    // into the ranks' slices) and on this rank's slice of the parameters (received).
    const std::size_t params = network_.parameter_count();
    const std::size_t slice = std::min(params, ceil_div(params, plan.ranks) + 2 * kSliceAlign);
    std::size_t total_nodes = 0, most_nodes = 0;
    for (std::size_t r = 0; r < plan.ranks; ++r) {
      const std::size_t nodes = count_nodes(rank_range(shards, plan.ranks, r), shards);
      total_nodes += nodes;
      most_nodes = std::max(most_nodes, nodes);
    }
    if (most_nodes * params > kMaxExchange || total_nodes * slice > kMaxExchange) {
      throw Error(fmt::format(
          "exact distributed reduction: {} parameters in {} shards on {} ranks would exchange "
          "more than {} floats per rank at once (MPI's count limit): use larger shards, or the "
          "fast reduction",
          params, shards, plan.ranks, kMaxExchange));
    }
    if (s.sent_nodes.size() < most_nodes * params) s.sent_nodes.resize(most_nodes * params);
    if (s.gathered_nodes.size() < total_nodes * slice) s.gathered_nodes.resize(total_nodes * slice);
    s.tree_nodes.resize(std::max(s.tree_nodes.size(), shards));
    s.all_shard_loss.resize(std::max(s.all_shard_loss.size(), shards));
    s.rank_nodes.resize(plan.ranks);
    s.rank_shards.resize(plan.ranks);
    s.send_counts.resize(plan.ranks);
    s.recv_counts.resize(plan.ranks);
  }
  // The forward products' packed weights, only for batches whose steps pack them ahead (a copy
  // of the weights, or one per task, not worth holding otherwise). Sized again each time: the
  // active ISA's blocking decides the layout.
  const std::size_t copies = packed_copies(plan);
  if (copies > 0) {
    const auto& k = kernels::active();
    const std::span<const DenseLayer> layers = network_.layers();
    if (s.packed_weights.size() < copies) s.packed_weights.resize(copies);
    if (s.packed_pointers.size() < copies) s.packed_pointers.resize(copies);
    for (std::size_t c = 0; c < copies; ++c) {
      s.packed_weights[c].resize(layers.size());
      s.packed_pointers[c].assign(layers.size(), nullptr);
      for (std::size_t l = 0; l < layers.size(); ++l) {
        const std::size_t size = kernels::gemm_packed_b_size(k, Trans::yes, layers[l].inputs,
                                                             layers[l].outputs, layers[l].inputs);
        if (s.packed_weights[c][l].size() != size) s.packed_weights[c][l].resize(size);
        if (size > 0) s.packed_pointers[c][l] = s.packed_weights[c][l].data();
      }
    }
  }
  const std::size_t rows_needed = std::min(local_rows, pass_rows());
  if (s.shard_capacity >= rows_needed && s.workspaces.size() >= local_count) return;
  // A smaller batch never needs more rows per shard or more shards than a larger one, so
  // sizing for the largest batch serves them all.
  const std::size_t capacity = std::max(s.shard_capacity, rows_needed);
  const std::size_t count = std::max(s.workspaces.size(), local_count);
  s.workspaces.clear();
  for (std::size_t i = 0; i < count; ++i) s.workspaces.emplace_back(network_, capacity);
  s.shard_gradients.resize(count - 1);
  for (auto& g : s.shard_gradients)
    if (g.size() != network_.parameter_count()) g.resize(network_.parameter_count());
  s.shard_loss.assign(count, 0.0);
  s.shard_data.assign(count, 0.0);
  s.shard_forward.assign(count, 0.0);
  s.shard_backward.assign(count, 0.0);
  s.shard_x.assign(count, Matrix(capacity, network_.inputs()));
  s.shard_labels.assign(count, std::vector<std::uint32_t>(capacity, 0));
  s.shard_values.assign(count, Matrix(capacity, network_.outputs()));
  s.piece_sums.resize(ceil_div(network_.parameter_count(), kReduceChunk));
  s.gradient_pointers.assign(count, nullptr);
  s.shard_capacity = capacity;
  optimizer_.prepare(network_.parameter_count());
  // Packing buffers for every product that can run at once: one per thread and per shard (a
  // thread waiting inside a product may take up another shard's), plus the caller. Threads
  // past the core count (and past 16) take theirs when they first need one: reserving for
  // all of them made --threads 1024 fill 2.9 GB before a small model's first step.
  const std::size_t running = std::min(threads(), std::max(hardware_threads(), std::size_t{16}));
  kernels::gemm_reserve(kernels::active(), running + kMaxShards + 1,
                        std::max(capacity, network_.max_width()), network_.max_width());
}

std::size_t Trainer::shard_rows(std::size_t batch_rows) const noexcept {
  if (batch_rows == 0) return 1;
  if (options_.shard_rows > 0) return std::min(options_.shard_rows, batch_rows);
  const double flops_per_row = 6.0 * static_cast<double>(network_.parameter_count());
  const auto min_rows = static_cast<std::size_t>(std::ceil(kMinShardFlops / flops_per_row));
  std::size_t rows = std::max({min_rows, ceil_div(batch_rows, kMaxShards), std::size_t{1}});
  rows = ceil_div(rows, 8) * 8;
  return std::min(rows, batch_rows);
}

std::size_t Trainer::pass_rows() const noexcept {
  std::size_t widths = 0;
  for (const DenseLayer& layer : network_.layers()) widths += layer.outputs;
  const std::size_t rows =
      std::max<std::size_t>(kPassFloats / std::max<std::size_t>(widths, 1), 64);
  return ceil_div(rows, 8) * 8;
}

bool Trainer::runs_serially(std::size_t batch_rows) const noexcept {
  const double flops =
      6.0 * static_cast<double>(network_.parameter_count()) * static_cast<double>(batch_rows);
  return plan_step(batch_rows).local_shards() <= 1 &&
         network_.parameter_count() < kSerialStepParameters &&
         flops < serial_step_flops(active_isa());
}

std::size_t Trainer::rows_computed() const noexcept {
  return state_->rows_computed;
}

Trainer::StepPlan Trainer::plan_step(std::size_t rows) const noexcept {
  const Communicator* comm = options_.distributed.communicator.get();
  StepPlan plan;
  plan.ranks = comm != nullptr ? comm->size() : 1;
  if (plan.ranks <= 1 || options_.distributed.reduction == Reduction::exact) {
    // The shards one process would cut; with ranks, a contiguous run of them each.
    plan.per_shard = shard_rows(rows);
    plan.shards = ceil_div(rows, plan.per_shard);
    plan.rows = rows;
    plan.last = plan.shards;
    if (plan.ranks > 1) {
      std::tie(plan.first, plan.last) = rank_range(plan.shards, plan.ranks, comm->rank());
      plan.exact_ranks = true;
    }
    return plan;
  }
  // fast: an even share of the rows, cut by the rule for that many rows.
  const std::size_t r = comm->rank();
  plan.first_row = rows * r / plan.ranks;
  plan.rows = rows * (r + 1) / plan.ranks - plan.first_row;
  plan.per_shard = shard_rows(std::max<std::size_t>(plan.rows, 1));
  plan.shards = ceil_div(plan.rows, plan.per_shard);
  plan.last = plan.shards;
  return plan;
}

StepRecord Trainer::train_step(ConstMatrixView x, const Targets& targets) {
  const detail::FailOnThrow fail_on_throw(options_.distributed.communicator.get());
  const parallel::SerialScope serial(runs_serially(x.rows));
  StepRecord record = compute_gradient(x, targets);
  if (!finish_step(record)) return record;
  clip_gradients(record.grad_norm);
  update_parameters();
  record.step = ++steps_;
  return record;
}

StepRecord Trainer::train_step(ConstMatrixView x, const Targets& targets,
                               std::span<const std::size_t> rows) {
  const detail::FailOnThrow fail_on_throw(options_.distributed.communicator.get());
  if (rows.empty()) throw Error("train_step: the row selection is empty");
  const parallel::SerialScope serial(runs_serially(rows.size()));
  StepRecord record = compute_gradient(x, targets, rows);
  if (!finish_step(record)) return record;
  clip_gradients(record.grad_norm);
  update_parameters();
  record.step = ++steps_;
  return record;
}

bool Trainer::finish_step(StepRecord& record) const noexcept {
  // A non-finite loss or gradient (NaN or overflowing inputs, weights or targets) would make
  // every parameter NaN or infinite: the update is not applied. (The values are the reduced
  // ones, so every rank decides alike.)
  record.updated = std::isfinite(record.loss) && std::isfinite(record.grad_norm);
  if (!record.updated) record.step = steps_;
  return record.updated;
}

void Trainer::update_parameters() {
  const detail::FlushDenormals flush(options_.flush_denormals);
  State& s = *state_;
  if (!s.profiling) {
    optimizer_.step(network_.parameters(), network_.gradients());
    return;
  }
  const auto start = Clock::now();
  optimizer_.step(network_.parameters(), network_.gradients());
  s.profile.optimizer += seconds_between(start, Clock::now());
}

void Trainer::copy_parameters(float* to) {
  const float* from = network_.parameters().data();
  optim::for_each_piece(network_.parameter_count(), [&](std::size_t first, std::size_t count) {
    std::memcpy(to + first, from + first, count * sizeof(float));
  });
}

void Trainer::set_profiling(bool on) noexcept {
  state_->profiling = on;
}

const StepProfile& Trainer::profile() const noexcept {
  return state_->profile;
}

void Trainer::reset_profile() noexcept {
  state_->profile = StepProfile{};
}

void Trainer::add_data_time(double seconds) noexcept {
  state_->profile.data += seconds;
}

double Trainer::squared_norm(std::span<const float> values) {
  // Fixed pieces, each summed in double, then added in order: the same bits on any number of
  // threads.
  State& s = *state_;
  const std::size_t pieces = ceil_div(values.size(), kReduceChunk);
  if (s.piece_sums.size() < pieces) s.piece_sums.resize(pieces);
  const auto& k = kernels::active();
  parallel::for_each_index(pieces, [&](std::size_t piece) {
    const std::size_t first = piece * kReduceChunk;
    s.piece_sums[piece] =
        k.sum_squares(std::min(kReduceChunk, values.size() - first), values.data() + first);
  });
  double total = 0.0;
  for (std::size_t i = 0; i < pieces; ++i) total += s.piece_sums[i];
  return total;
}

void Trainer::clip_gradients(double grad_norm) {
  if (options_.clip_value <= 0.0 && options_.clip_norm <= 0.0) return;
  const bool profiling = state_->profiling;
  const auto start = profiling ? Clock::now() : Clock::time_point{};
  clip(grad_norm);
  if (profiling) state_->profile.reduce += seconds_between(start, Clock::now());
}

void Trainer::clip(double grad_norm) {
  const detail::FlushDenormals flush(options_.flush_denormals);
  const auto& k = kernels::active();
  std::span<float> g = network_.gradients();
  if (options_.clip_value > 0.0) {
    const auto v = static_cast<float>(options_.clip_value);
    parallel::for_each_index(ceil_div(g.size(), kReduceChunk), [&](std::size_t piece) {
      const std::size_t first = piece * kReduceChunk;
      k.clamp(std::min(kReduceChunk, g.size() - first), -v, v, g.data() + first);
    });
    if (options_.clip_norm > 0.0) grad_norm = std::sqrt(squared_norm(g));
  }
  if (options_.clip_norm > 0.0) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    const double coef = options_.clip_norm / (grad_norm + 1e-6);
    if (coef < 1.0) {
      const auto c = static_cast<float>(coef);
      parallel::for_each_index(ceil_div(g.size(), kReduceChunk), [&](std::size_t piece) {
        const std::size_t first = piece * kReduceChunk;
        k.scale(std::min(kReduceChunk, g.size() - first), c, g.data() + first);
      });
    }
  }
}

StepRecord Trainer::compute_gradient(ConstMatrixView x, const Targets& targets,
                                     std::span<const std::size_t> selection) {
  const detail::FlushDenormals flush(options_.flush_denormals);
  const bool gather = !selection.empty();
  const std::size_t rows = gather ? selection.size() : x.rows;
  if (rows == 0) throw Error("train_step: the batch is empty");
  if (x.cols != network_.inputs()) {
    throw Error(fmt::format("train_step: the batch has {} columns, the network takes {} inputs",
                            x.cols, network_.inputs()));
  }
  detail::check_matrix_view(x, "train_step: input");
  check_buffers_fit();
  const ConstMatrixView output_shape{nullptr, x.rows, network_.outputs(), network_.outputs()};
  if (gather) {
    // Each selected row within the data (check_targets), and the selected rows' labels only (fit()
    // validates the whole data set first): checking all 60,000 labels of an MNIST-sized set took 17
    // us of every step (batch 1: 105 -> 87 us).
    check_targets(loss_, output_shape, targets, selection);
  } else {
    check_targets(loss_, output_shape, targets);
  }

  reserve(rows);
  State& s = *state_;
  const StepPlan plan = plan_step(rows);
  const std::size_t local = plan.local_shards();
  const std::size_t pass = pass_rows();
  s.gradient_pointers[0] = network_.gradients().data();
  for (std::size_t i = 1; i < local; ++i) s.gradient_pointers[i] = s.shard_gradients[i - 1].data();

  const auto scale =
      static_cast<float>(1.0 / static_cast<double>(loss_divisor(loss_, rows, network_.outputs())));
  const std::size_t params = network_.parameter_count();

  // Shards run as tasks; where they are fewer than the threads, their products use the rest
  // (the products split over M and N only, so the thread count never changes a bit).
  const bool pairs = fuses_pairs(plan);
  const std::size_t tasks = pairs ? ceil_div(local, 2) : local;
  const bool nested = tasks < threads() && !runs_serially(rows);
  for (std::size_t i = 0; i < local; ++i) s.workspaces[i].set_parallel(nested);
  const bool profiling = s.profiling;
  const auto start = profiling ? Clock::now() : Clock::time_point{};
  const std::size_t copies = packed_copies(plan);
  const double pack_seconds = copies == 1 ? pack_weights(0, true) : 0.0;
  struct Unpack {
    std::vector<Workspace>& workspaces;
    ~Unpack() {
      for (Workspace& ws : workspaces) ws.packed_weights_ = nullptr;
    }
  } unpack{s.workspaces};
  for (std::size_t i = 0; i < local; ++i)
    s.workspaces[i].packed_weights_ = copies == 1 ? s.packed_pointers[0].data() : nullptr;
  // One shard into the gradient buffer of slot `into` (its own, or its pair's first: see
  // fuses_pairs), with that slot's workspace and row buffers.
  auto run_shard = [&](std::size_t slot, std::size_t into) {
    const std::size_t shard = plan.first + slot;
    const std::size_t first = plan.shard_begin(shard);
    const std::size_t count = plan.shard_end(shard) - first;
    Workspace& ws = s.workspaces[into];
    const std::span<float> gradient(s.gradient_pointers[into], params);
    const bool adds = into != slot;
    // In passes of at most pass_rows, the gradient accumulated: the activations stay in cache.
    double loss = 0.0;
    double data_seconds = 0.0, forward_seconds = 0.0, backward_seconds = 0.0;
    for (std::size_t done = 0; done < count; done += pass) {
      const std::size_t n = std::min(pass, count - done);
      const auto t0 = profiling ? Clock::now() : Clock::time_point{};
      ConstMatrixView xs;
      Targets ts;
      if (gather) {
        // This pass's rows, copied by the task that reads them next (while they are in cache).
        const detail::Batch batch =
            detail::gather_rows(x, targets, selection.subspan(first + done, n), s.shard_x[into],
                                s.shard_labels[into], s.shard_values[into]);
        xs = batch.x;
        ts = batch.targets;
      } else {
        xs = x.rows_range(first + done, n);
        ts = detail::slice(targets, first + done, n);
      }
      const auto t1 = profiling ? Clock::now() : Clock::time_point{};
      const ConstMatrixView out = network_.forward(xs, ws);
      const MatrixView grad = ws.output_gradient(n);
      loss += loss_sum(loss_, out, ts, scale, &grad);
      const auto t2 = profiling ? Clock::now() : Clock::time_point{};
      network_.backward(xs, ws, gradient, adds || done > 0);
      if (profiling) {
        data_seconds += seconds_between(t0, t1);
        forward_seconds += seconds_between(t1, t2);
        backward_seconds += seconds_between(t2, Clock::now());
      }
    }
    s.shard_loss[slot] = loss;
    if (profiling) {
      s.shard_data[slot] = data_seconds;
      s.shard_forward[slot] = forward_seconds;
      s.shard_backward[slot] = backward_seconds;
    }
  };
  if (pairs) {
    parallel::for_each_index(ceil_div(local, 2), [&](std::size_t task) {
      double packing = 0.0;
      if (copies > 1) {
        // The copy this task's thread packs and then reads, twice: the pair's two forward passes.
        packing = pack_weights(task, false);
        s.workspaces[2 * task].packed_weights_ = s.packed_pointers[task].data();
      }
      run_shard(2 * task, 2 * task);
      if (profiling) s.shard_forward[2 * task] += packing;
      if (2 * task + 1 < local) run_shard(2 * task + 1, 2 * task);
    });
  } else {
    parallel::for_each_index(local, [&](std::size_t slot) { run_shard(slot, slot); });
  }
  if (local > 0) s.rows_computed += plan.shard_end(plan.last - 1) - plan.shard_begin(plan.first);
  const auto shards_done = profiling ? Clock::now() : Clock::time_point{};

  double squares = 0.0;
  double loss_total = 0.0;
  if (plan.ranks > 1) {
    combine_ranks(plan, loss_total, squares);
  } else {
    // Pairwise tree over the shards in a fixed order, run in parallel over fixed pieces of
    // the parameter vector: every element sees the same additions whatever the thread count.
    // Each piece's sum of squares is taken as soon as the piece is summed, while it is in
    // cache: the same pieces, in the same order, as squared_norm().
    const auto& k = kernels::active();
    const std::size_t shards = plan.shards;
    // Fused pairs made the tree's first level already.
    const std::size_t first_stride = pairs ? 2 : 1;
    if (shards > first_stride) {
      const std::size_t pieces = ceil_div(params, kReduceChunk);
      if (s.piece_sums.size() < pieces) s.piece_sums.resize(pieces);
      parallel::for_each_index(pieces, [&](std::size_t chunk) {
        const std::size_t first = chunk * kReduceChunk;
        const std::size_t count = std::min(kReduceChunk, params - first);
        for (std::size_t stride = first_stride; stride < shards; stride *= 2) {
          for (std::size_t i = 0; i + stride < shards; i += 2 * stride) {
            k.axpy(count, 1.0f, s.gradient_pointers[i + stride] + first,
                   s.gradient_pointers[i] + first);
          }
        }
        s.piece_sums[chunk] = k.sum_squares(count, s.gradient_pointers[0] + first);
      });
      for (std::size_t i = 0; i < pieces; ++i) squares += s.piece_sums[i];
    } else {
      squares = squared_norm(network_.gradients());
    }
    for (std::size_t i = 0; i < shards; ++i) loss_total += s.shard_loss[i];
  }
  if (profiling) {
    // The shards' region of wall time, split in the ratio of their own gather, forward and
    // backward times.
    double data = 0.0, forward = 0.0, backward = 0.0;
    for (std::size_t i = 0; i < local; ++i) {
      data += gather ? s.shard_data[i] : 0.0;
      forward += s.shard_forward[i];
      backward += s.shard_backward[i];
    }
    const double region = seconds_between(start, shards_done) - pack_seconds;
    const double total = data + forward + backward;
    s.profile.data += total > 0.0 ? region * data / total : 0.0;
    s.profile.forward += pack_seconds + (total > 0.0 ? region * forward / total : region / 2);
    s.profile.backward += total > 0.0 ? region * backward / total : region / 2;
    s.profile.reduce += seconds_between(shards_done, Clock::now());
    ++s.profile.steps;
  }

  StepRecord record;
  record.rows = rows;
  record.loss = loss_total / static_cast<double>(loss_divisor(loss_, rows, network_.outputs()));
  record.grad_norm = std::sqrt(squares);
  record.lr = optimizer_.lr();
  return record;
}

bool Trainer::fuses_pairs(const StepPlan& plan) const noexcept {
  // The reduction tree's first level adds shard 2i+1's gradient to shard 2i's. Where a thread
  // would run both shards of a pair anyway (at least twice as many shards as threads), it runs
  // them one after the other and the second's backward adds into the first's buffer (beta =
  // 1): no second buffer to write and read back. The same bits as the tree, where each of the
  // second shard's sums is added to the first's in one rounding, as the tree's axpy adds them:
  // one pass per shard, and products whose K (the shard's rows) is one block.
  const std::size_t local = plan.local_shards();
  return plan.ranks <= 1 && local >= 2 && local >= 2 * threads() && plan.per_shard <= pass_rows() &&
         kernels::gemm_adds_sum_once(kernels::active(), plan.per_shard);
}

std::size_t Trainer::packed_copies(const StepPlan& plan) const noexcept {
  // Each forward pass packs its layers' weights for the product; where every thread would do
  // that at least twice in a step (shards or passes), they are packed once, for all of them.
  // Not below: packing on one thread what another then reads costs more between cores than it
  // saves. Where each of several threads runs exactly one pair of shards (fused pairs ask for
  // at least two shards a thread), each packs a copy for its pair. (Either way the products
  // are the same bits: packing only copies.)
  const std::size_t local = plan.local_shards();
  if (local == 0) return 0;
  const std::size_t t = threads();
  if (t >= 2 && local == 2 * t && fuses_pairs(plan)) return t;
  const std::size_t rows = plan.shard_end(plan.first) - plan.shard_begin(plan.first);
  return local * ceil_div(rows, pass_rows()) >= 2 * t ? 1 : 0;
}

double Trainer::pack_weights(std::size_t copy, bool parallel) {
  State& s = *state_;
  const auto start = s.profiling ? Clock::now() : Clock::time_point{};
  const auto& k = kernels::active();
  const std::span<const DenseLayer> layers = network_.layers();
  const float* params = network_.parameters().data();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const DenseLayer& layer = layers[l];
    if (s.packed_weights[copy][l].size() == 0) continue;
    kernels::gemm_pack_b(k, Trans::yes, layer.inputs, layer.outputs, params + layer.weight_offset,
                         layer.inputs, s.packed_weights[copy][l].data(), parallel);
  }
  return s.profiling ? seconds_between(start, Clock::now()) : 0.0;
}

void Trainer::combine_ranks(const StepPlan& plan, double& loss_total, double& squares) {
  State& s = *state_;
  Communicator& comm = *options_.distributed.communicator;
  const auto& k = kernels::active();
  const std::size_t params = network_.parameter_count();
  const std::size_t local = plan.local_shards();
  const std::span<float> gradient = network_.gradients();
  double local_loss = 0.0;
  for (std::size_t i = 0; i < local; ++i) local_loss += s.shard_loss[i];

  if (!plan.exact_ranks) {
    // fast: this rank's shards summed by the tree, then every rank's sums by MPI.
    if (local == 0) {
      std::fill(gradient.begin(), gradient.end(), 0.0f);
    } else if (local > 1) {
      add_tree(k, std::span<float* const>(s.gradient_pointers.data(), local), params,
               [](std::size_t, std::size_t) { return true; });
    }
    comm.allreduce_sum(gradient);
    comm.allreduce_sum(std::span<double>(&local_loss, 1));
    loss_total = local_loss;
    squares = squared_norm(gradient);
    return;
  }

  // exact: first the additions of the single process's tree that lie within this rank's
  // shards; then, slice by slice of the parameter vector, every rank's largest finished nodes
  // to the rank that owns the slice, which makes the remaining additions in the tree's order;
  // then the finished slices to every rank.
  const std::size_t shards = plan.shards;
  const std::span<float*> nodes(s.tree_nodes.data(), shards);
  std::fill(nodes.begin(), nodes.end(), nullptr);
  for (std::size_t i = 0; i < local; ++i) nodes[plan.first + i] = s.gradient_pointers[i];
  const std::pair<std::size_t, std::size_t> mine{plan.first, plan.last};
  add_tree(k, nodes, params,
           [&](std::size_t i, std::size_t stride) { return node_within(i, stride, shards, mine); });

  std::size_t total_nodes = 0;
  for (std::size_t r = 0; r < plan.ranks; ++r) {
    const auto range = rank_range(shards, plan.ranks, r);
    s.rank_shards[r] = range.second - range.first;
    s.rank_nodes[r] = count_nodes(range, shards);
    total_nodes += s.rank_nodes[r];
  }
  // Rank c finishes the tree on slice c of the parameter vector: every rank sends it that
  // slice of each of its nodes, in node order.
  const std::size_t me = comm.rank();
  auto slice_begin = [&](std::size_t c) {
    return c >= plan.ranks ? params
                           : std::min(params, params * c / plan.ranks / kSliceAlign * kSliceAlign);
  };
  auto slice_size = [&](std::size_t c) { return slice_begin(c + 1) - slice_begin(c); };
  const std::size_t my_nodes = s.rank_nodes[me];
  float* sent = s.sent_nodes.data();
  for (std::size_t c = 0; c < plan.ranks; ++c) {
    s.send_counts[c] = my_nodes * slice_size(c);
    s.recv_counts[c] = s.rank_nodes[c] * slice_size(me);
    for_each_node(mine, shards, [&](std::size_t i) {
      std::memcpy(sent, nodes[i] + slice_begin(c), slice_size(c) * sizeof(float));
      sent += slice_size(c);
    });
  }
  const std::size_t slice = slice_size(me);
  comm.alltoall(std::span<const float>(s.sent_nodes.data(), my_nodes * params), s.send_counts,
                std::span<float>(s.gathered_nodes.data(), total_nodes * slice), s.recv_counts);
  // Every rank's nodes, on this rank's slice, by first shard; then the tree's remaining
  // additions, in its order.
  std::size_t j = 0;
  for (std::size_t r = 0; r < plan.ranks; ++r) {
    for_each_node(rank_range(shards, plan.ranks, r), shards,
                  [&](std::size_t i) { nodes[i] = s.gathered_nodes.data() + j++ * slice; });
  }
  add_tree(k, nodes, slice, [&](std::size_t i, std::size_t stride) {
    for (std::size_t r = 0; r < plan.ranks; ++r)
      if (node_within(i, stride, shards, rank_range(shards, plan.ranks, r))) return false;
    return true;
  });
  if (slice > 0) std::memcpy(gradient.data() + slice_begin(me), nodes[0], slice * sizeof(float));
  for (std::size_t c = 0; c < plan.ranks; ++c) s.send_counts[c] = slice_size(c);
  comm.allgather(gradient, s.send_counts);
  squares = squared_norm(gradient);

  // The shards' losses, added in shard order as one process adds them.
  comm.allgather(std::span<const double>(s.shard_loss.data(), local),
                 std::span<double>(s.all_shard_loss.data(), shards), s.rank_shards);
  loss_total = 0.0;
  for (std::size_t i = 0; i < shards; ++i) loss_total += s.all_shard_loss[i];
}

Evaluation Trainer::evaluate(const Dataset& data) {
  const detail::FailOnThrow fail_on_throw(options_.distributed.communicator.get());
  detail::check_data(network_, loss_, data, "evaluation");
  // As evaluate_model: a mean over no rows is no evaluation (it used to return NaN, which
  // reads as a diverged model).
  if (data.rows() == 0) throw Error(fmt::format("evaluation data \"{}\" has no rows", data.name));
  return evaluate_checked(data);
}

// Its callers (evaluate, fit) hold the FailOnThrow that tells the other ranks of a failure.
Evaluation Trainer::evaluate_checked(const Dataset& data) {
  Evaluation result;
  result.rows = data.rows();
  const detail::PreparedTargets targets = detail::prepare_targets(loss_, data);
  State& s = *state_;
  // Rows per chunk (from the model only, so the sums are the same on any thread count).
  const std::size_t chunk_rows = network_.inference_rows();
  const std::size_t chunks = ceil_div(data.rows(), chunk_rows);
  // With ranks, each evaluates a contiguous run of the chunks and the chunks' sums are
  // exchanged: the same sums, added in the same order, as one process.
  Communicator* comm = options_.distributed.communicator.get();
  const std::size_t ranks = comm != nullptr ? comm->size() : 1;
  // Plain variables, not a structured binding: clang 14 cannot capture one in a lambda.
  const auto own = rank_range(chunks, ranks, ranks > 1 ? comm->rank() : 0);
  const std::size_t begin = own.first;
  const std::size_t end = own.second;
  const std::size_t mine = end - begin;
  const std::size_t workers = std::min(mine, kEvalWorkers);
  while (s.eval_workspaces.size() < workers) s.eval_workspaces.emplace_back(network_, chunk_rows);
  // A forward pass too small to pay for waking threads (2 FLOPs per parameter and row, under
  // the serial-step line) runs its chunks on this thread: a 64-60-10 MLP's 359 validation rows
  // once per epoch made 300 epochs of digits 15-20 ms slower on 2 threads than on 1.
  const std::size_t own_rows =
      std::min(end * chunk_rows, data.rows()) - std::min(begin * chunk_rows, data.rows());
  const double forward_flops =
      2.0 * static_cast<double>(network_.parameter_count()) * static_cast<double>(own_rows);
  const parallel::SerialScope serial(forward_flops < serial_step_flops(active_isa()));
  s.chunk_loss.assign(chunks, 0.0);
  s.chunk_correct.assign(chunks, 0);
  const ConstMatrixView x = data.features.view();
  parallel::for_each_index(workers, [&](std::size_t worker) {
    for (std::size_t chunk = begin + worker; chunk < end; chunk += workers) {
      const std::size_t first = chunk * chunk_rows;
      const std::size_t count = std::min(chunk_rows, data.rows() - first);
      const ConstMatrixView out =
          network_.forward(x.rows_range(first, count), s.eval_workspaces[worker]);
      const Targets t = detail::slice(targets.view, first, count);
      s.chunk_loss[chunk] = loss_sum(loss_, out, t, 0.0f, nullptr);
      s.chunk_correct[chunk] = count_correct(loss_, out, t);
    }
  });
  if (ranks > 1) {
    // Each chunk's loss and count of correct predictions (exact in a double) as a pair, in
    // one exchange: the ranks' runs are contiguous, so the pairs arrive in chunk order.
    std::vector<std::size_t> counts(ranks);
    for (std::size_t r = 0; r < ranks; ++r) {
      const auto range = rank_range(chunks, ranks, r);
      counts[r] = 2 * (range.second - range.first);
    }
    std::vector<double> sent(2 * mine), pairs(2 * chunks);
    for (std::size_t i = 0; i < mine; ++i) {
      sent[2 * i] = s.chunk_loss[begin + i];
      sent[2 * i + 1] = static_cast<double>(s.chunk_correct[begin + i]);
    }
    comm->allgather(sent, pairs, counts);
    for (std::size_t c = 0; c < chunks; ++c) {
      s.chunk_loss[c] = pairs[2 * c];
      s.chunk_correct[c] = static_cast<std::size_t>(pairs[2 * c + 1]);
    }
  }
  double loss_total = 0.0;
  std::size_t correct = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    loss_total += s.chunk_loss[c];
    correct += s.chunk_correct[c];
  }
  result.loss =
      loss_total / static_cast<double>(loss_divisor(loss_, data.rows(), network_.outputs()));
  if (loss_ == Loss::mse) {
    result.accuracy = kNaN;
  } else {
    const std::size_t judged =
        loss_ == Loss::cross_entropy ? data.rows() : data.rows() * network_.outputs();
    result.accuracy = static_cast<double>(correct) / static_cast<double>(judged);
  }
  return result;
}

}  // namespace descent
