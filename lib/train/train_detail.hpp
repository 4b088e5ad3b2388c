#pragma once
// Internal: pieces of the trainer that fit.cpp and trainer.cpp share.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/data.hpp"
#include "descent/loss.hpp"
#include "descent/network.hpp"
#include "descent/train.hpp"

namespace descent::detail {

// A copy of `values` (parameters kept to be put back) in a buffer whose size is checked
// against the memory left, as a std::vector's is not: a model too large to copy is "out of
// memory", not the OOM killer.
inline AlignedBuffer<float> copy_of(std::span<const float> values) {
  AlignedBuffer<float> copy(values.size());
  std::copy(values.begin(), values.end(), copy.data());
  return copy;
}

// Independent seeds for the split, the initialisation and the shuffle, from one user seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

// The targets a loss needs for a data set; bce_with_logits on a two-class set turns the
// labels into 0/1 values (owned).
struct PreparedTargets {
  Matrix owned;
  Targets view;
};
PreparedTargets prepare_targets(Loss loss, const Dataset& data);

// Throws descent::Error unless data fits the network and the loss, its parts agree and (unless
// scan_values is false: the caller has scanned them) its values are finite.
void check_data(const Network& network, Loss loss, const Dataset& data, std::string_view role,
                bool scan_values = true);
// Throws descent::Error where classification data has one class only (every label the same,
// whatever the class count says): nothing to learn, and no rate to find.
void check_classes(Loss loss, const Dataset& data, std::string_view role);
// Throws descent::Error naming the first feature or target that is NaN or infinite, and its
// row (check_data does this too; its parts must agree first).
void check_values(const Dataset& data, std::string_view role);

// Throws descent::Error for a stop criterion or clipping bound out of range (what fit() and
// minimize() share; each checks what only it has on top).
void check_stop_criteria(const StopCriteria& s, double clip_norm, double clip_value);

// Throws descent::Error unless `schedule`, `taken` of whose steps are gone, lasts a run that
// advances it `planned` times (none: no bound), once per `per` ("optimizer step", "epoch"):
// past a step_limit() its rate is not one it defines (what fit() and minimize() share).
void check_schedule_lasts(const Schedule& schedule, std::size_t taken,
                          std::optional<std::size_t> planned, std::string_view per);

// Rows [first, first + count) of the targets.
Targets slice(const Targets& t, std::size_t first, std::size_t count);

// A batch as the losses and the network take it.
struct Batch {
  ConstMatrixView x;
  Targets targets;
};
// Rows `rows` of x and of the targets copied into the buffers (at least rows.size() rows each;
// values_out only read when there are values), in that order.
Batch gather_rows(ConstMatrixView x, const Targets& t, std::span<const std::size_t> rows,
                  Matrix& x_out, std::span<std::uint32_t> labels_out, Matrix& values_out);

// Why a step's loss or gradient norm is not finite before any update (the first step): the
// weights or the data overflow, which no other rate would mend. fit() stops with it, lr_find()
// throws it.
std::string non_finite_at_start(const StepRecord& step);

// Tells the communicator this rank failed when an exception leaves the scope, so that the
// other ranks of a local group are not left waiting for it.
class FailOnThrow {
 public:
  explicit FailOnThrow(Communicator* comm) noexcept : comm_(comm) {}
  ~FailOnThrow() {
    if (comm_ != nullptr && std::uncaught_exceptions() > uncaught_) comm_->fail();
  }
  FailOnThrow(const FailOnThrow&) = delete;
  FailOnThrow& operator=(const FailOnThrow&) = delete;

 private:
  Communicator* comm_;
  int uncaught_ = std::uncaught_exceptions();
};

}  // namespace descent::detail

namespace descent {

struct Trainer::State {
  // Whether the running (or last) fit() got past every check that can refuse the run.
  bool started = false;
  // Training shards: one workspace and one gradient buffer per shard slot. Shard 0 writes
  // straight into network.gradients().
  std::size_t shard_capacity = 0;
  std::vector<Workspace> workspaces;
  std::vector<AlignedBuffer<float>> shard_gradients;
  std::vector<double> shard_loss;
  std::vector<float*> gradient_pointers;
  std::vector<double> piece_sums;  // squared_norm's partial sums
  // Each layer's weights as its forward product reads them (kernels::gemm_pack_b), packed
  // once per step: one copy for all the shards and passes, or one per task of a step whose
  // threads each run one pair of shards (Trainer::packed_copies); [copy][layer], a null
  // pointer where the product reads them in place.
  std::vector<std::vector<AlignedBuffer<float>>> packed_weights;
  std::vector<std::vector<const float*>> packed_pointers;
  // Evaluation chunks.
  std::vector<Workspace> eval_workspaces;
  std::vector<double> chunk_loss;
  std::vector<std::size_t> chunk_correct;
  // A step on selected rows: each shard gathers its pass's rows here, in its own task,
  // just before the forward pass reads them ([shard_capacity, inputs] and [.., outputs]).
  std::vector<Matrix> shard_x;
  std::vector<std::vector<std::uint32_t>> shard_labels;
  std::vector<Matrix> shard_values;
  // Profiling: each shard's gather, forward and backward seconds of the current step.
  bool profiling = false;
  StepProfile profile;
  std::vector<double> shard_data, shard_forward, shard_backward;
  // Exact distributed steps: the tree's nodes by first shard, this rank's nodes cut into the
  // ranks' slices, every rank's nodes on this rank's slice, every shard's loss, per rank its
  // nodes and shards, and the exchanges' counts.
  std::vector<float*> tree_nodes;
  AlignedBuffer<float> sent_nodes, gathered_nodes;
  std::vector<double> all_shard_loss;
  std::vector<std::size_t> rank_nodes, rank_shards, send_counts, recv_counts;
  std::size_t rows_computed = 0;
};

// A batch of `rows` rows cut into `shards` shards of `per_shard` rows (the last may be
// shorter), starting at row `first_row` of the batch: the whole batch, or in fast
// distributed mode this rank's part of it. This process computes shards [first, last).
struct Trainer::StepPlan {
  std::size_t per_shard = 1;
  std::size_t shards = 0;
  std::size_t first_row = 0;
  std::size_t rows = 0;
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t ranks = 1;
  bool exact_ranks = false;  // several ranks share the shards (exact mode)
  std::size_t local_shards() const noexcept { return last - first; }
  // Rows [shard_begin(i), shard_end(i)) of the batch.
  std::size_t shard_begin(std::size_t i) const noexcept { return first_row + i * per_shard; }
  std::size_t shard_end(std::size_t i) const noexcept {
    return std::min(first_row + (i + 1) * per_shard, first_row + rows);
  }
};

}  // namespace descent
