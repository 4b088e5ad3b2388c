#pragma once
// Data-parallel training across processes. Every rank holds the whole network, reads the
// whole data set and draws the same shuffle; each computes its part of every batch, the
// gradient is combined across ranks, and every rank applies the same update, so the
// parameters stay the same on all of them.
//
// Two reductions. `exact`: the batch is cut into the shards one process would cut it into,
// each rank computes a contiguous run of them and adds up what of the single process's fixed
// tree lies within its run; then each rank finishes the tree, in the same order, on its own
// slice of the parameter vector (the ranks' partial sums exchanged slice by slice, an
// all-to-all), and the finished slices go to every rank (an allgather): the parameters are
// the same bits as one process's, whatever the rank count, for the traffic of an allreduce. `fast`:
// the batch's rows are split evenly across the ranks and their gradients summed with MPI_Allreduce:
// less traffic, but the sum's order depends on the rank count and MPI's algorithm, so results are
// not bit-reproducible across rank counts.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace descent {

enum class Reduction { exact, fast };
std::string_view to_string(Reduction reduction) noexcept;
// "exact" or "fast"; anything else throws descent::Error naming the value.
Reduction parse_reduction(std::string_view text);

// A group of ranks and the collectives the trainer needs. Every rank calls each collective
// in the same order with the same sizes (as MPI requires); results are the same on all ranks.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::size_t rank() const noexcept = 0;
  virtual std::size_t size() const noexcept = 0;
  // Every rank sends send_counts[r] floats to rank r, the blocks lying in rank order in `send`,
  // and receives recv_counts[q] floats from rank q, in rank order, in `recv`.
  virtual void alltoall(std::span<const float> send, std::span<const std::size_t> send_counts,
                        std::span<float> recv, std::span<const std::size_t> recv_counts) = 0;
  // In place: rank r holds counts[r] floats at offset counts[0] + ... + counts[r - 1] of
  // `values`; afterwards every rank holds all of them.
  virtual void allgather(std::span<float> values, std::span<const std::size_t> counts) = 0;
  // counts[r] doubles from rank r (`mine`) to every rank, in rank order, in `all`.
  virtual void allgather(std::span<const double> mine, std::span<double> all,
                         std::span<const std::size_t> counts) = 0;
  // One value from every rank, in rank order (all.size() == size()).
  virtual void allgather(std::uint64_t mine, std::span<std::uint64_t> all) = 0;
  // Element-wise sums over the ranks, in place.
  virtual void allreduce_sum(std::span<float> values) = 0;
  virtual void allreduce_sum(std::span<double> values) = 0;
  // Bitwise or over the ranks: how the ranks agree on a decision only some of them took.
  virtual std::uint64_t allreduce_or(std::uint64_t bits) = 0;
  // This rank cannot go on (the trainer calls it when an exception leaves a collective
  // sequence): a local group wakes its other ranks, whose collectives then throw
  // descent::Error. MPI does nothing here: call mpi::abort to end the job.
  virtual void fail() noexcept {}
};

struct DistributedOptions {
  std::shared_ptr<Communicator> communicator;  // none, or a group of one: a single process
  Reduction reduction = Reduction::exact;
  // After every epoch the ranks compare a checksum of their parameters and throw
  // descent::Error naming the ranks that differ (a broken replica would go on silently).
  bool check_replicas = true;
};

// n ranks (1 to kMaxThreads) that are threads of this process (each rank's code runs on its
// own thread): for tests, and for trying distributed code without MPI. The collectives block
// until every rank of the group has called them.
std::vector<std::shared_ptr<Communicator>> make_local_group(std::size_t n);

namespace mpi {

// Whether this descent was built with DESCENT_MPI=ON.
bool available() noexcept;

// MPI for the lifetime of the object: MPI_Init_thread (funneled: only the thread that made
// it calls MPI) and MPI_Finalize. One per process. Throws descent::Error when descent was
// built without MPI, or when MPI cannot start.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // MPI_COMM_WORLD.
  std::shared_ptr<Communicator> world() const;

 private:
  std::shared_ptr<Communicator> world_;
};

// Ends every process of the job with this exit status (MPI_Abort on MPI_COMM_WORLD): what a
// rank that cannot go on calls, so that the others do not wait for it forever. Exits this
// process alone when MPI is not running.
[[noreturn]] void abort(int status) noexcept;

}  // namespace mpi
}  // namespace descent
