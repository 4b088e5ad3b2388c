// descent::mpi with Open MPI (DESCENT_MPI=ON): the session, MPI_COMM_WORLD as a
// Communicator, and the job-wide abort.

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <mpi.h>

#include "descent/distributed.hpp"
#include "descent/error.hpp"

namespace descent::mpi {
namespace {

// MPI counts are ints: element-wise collectives go in pieces of at most this many values.
constexpr std::size_t kMaxPiece = std::size_t{1} << 30;

int to_int(std::size_t value, std::string_view what) {
  if (value > static_cast<std::size_t>(INT_MAX))
    throw Error(fmt::format("MPI: {} {} is more than an MPI count can hold", what, value));
  return static_cast<int>(value);
}

class World final : public Communicator {
 public:
  World() {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rank_ = static_cast<std::size_t>(rank);
    size_ = static_cast<std::size_t>(size);
  }
  std::size_t rank() const noexcept override { return rank_; }
  std::size_t size() const noexcept override { return size_; }

  void alltoall(std::span<const float> send, std::span<const std::size_t> send_counts,
                std::span<float> recv, std::span<const std::size_t> recv_counts) override {
    layout(send_counts, counts_, displacements_);
    layout(recv_counts, recv_counts_, recv_displacements_);
    MPI_Alltoallv(send.data(), counts_.data(), displacements_.data(), MPI_FLOAT, recv.data(),
                  recv_counts_.data(), recv_displacements_.data(), MPI_FLOAT, MPI_COMM_WORLD);
  }
  void allgather(std::span<float> values, std::span<const std::size_t> counts) override {
    layout(counts, counts_, displacements_);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values.data(), counts_.data(),
                   displacements_.data(), MPI_FLOAT, MPI_COMM_WORLD);
  }
  void allgather(std::span<const double> mine, std::span<double> all,
                 std::span<const std::size_t> counts) override {
    layout(counts, counts_, displacements_);
    MPI_Allgatherv(mine.data(), counts_[rank_], MPI_DOUBLE, all.data(), counts_.data(),
                   displacements_.data(), MPI_DOUBLE, MPI_COMM_WORLD);
  }
  void allgather(std::uint64_t mine, std::span<std::uint64_t> all) override {
    MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  }
  void allreduce_sum(std::span<float> values) override {
    for (std::size_t first = 0; first < values.size(); first += kMaxPiece) {
      const std::size_t n = std::min(kMaxPiece, values.size() - first);
      MPI_Allreduce(MPI_IN_PLACE, values.data() + first, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    }
  }
  void allreduce_sum(std::span<double> values) override {
    for (std::size_t first = 0; first < values.size(); first += kMaxPiece) {
      const std::size_t n = std::min(kMaxPiece, values.size() - first);
      MPI_Allreduce(MPI_IN_PLACE, values.data() + first, static_cast<int>(n), MPI_DOUBLE, MPI_SUM,
                    MPI_COMM_WORLD);
    }
  }
  std::uint64_t allreduce_or(std::uint64_t bits) override {
    std::uint64_t out = 0;
    MPI_Allreduce(&bits, &out, 1, MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD);
    return out;
  }

 private:
  // Counts per rank and their offsets, as MPI's ints.
  void layout(std::span<const std::size_t> counts, std::vector<int>& out,
              std::vector<int>& offsets) const {
    if (counts.size() != size_) {
      throw Error(fmt::format("MPI: {} counts for {} ranks", counts.size(), size_));
    }
    out.resize(size_);
    offsets.resize(size_);
    std::size_t offset = 0;
    for (std::size_t r = 0; r < size_; ++r) {
      out[r] = to_int(counts[r], "a count of");
      offsets[r] = to_int(offset, "an offset of");
      offset += counts[r];
    }
  }

  std::size_t rank_ = 0;
  std::size_t size_ = 1;
  // The counts and offsets MPI takes, kept from step to step (no allocation per exchange).
  std::vector<int> counts_, displacements_, recv_counts_, recv_displacements_;
};

}  // namespace

bool available() noexcept {
  return true;
}

Session::Session() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    throw Error(finalized ? "MPI has ended in this process (an earlier mpi::Session) and cannot "
                            "start again: make one mpi::Session per process, for its whole run"
                          : "MPI is already running: make one mpi::Session per process");
  }
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init_thread failed: is this process started by mpirun?");
  world_ = std::make_shared<World>();
}

Session::~Session() {
  world_.reset();
  MPI_Finalize();
}

std::shared_ptr<Communicator> Session::world() const {
  return world_;
}

void abort(int status) noexcept {
  // mpirun forwards each rank's output asynchronously, and MPI_Abort tears the job down at
  // once: give the message the caller just printed a moment to get out.
  std::fflush(stdout);
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);
}

}  // namespace descent::mpi
