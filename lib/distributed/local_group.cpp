// The reductions' names, and the in-process group of ranks (threads) behind make_local_group.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <numeric>
#include <type_traits>

#include <fmt/format.h>

#include "descent/distributed.hpp"
#include "descent/error.hpp"
#include "descent/parallel.hpp"

namespace descent {

std::string_view to_string(Reduction reduction) noexcept {
  return reduction == Reduction::exact ? "exact" : "fast";
}

Reduction parse_reduction(std::string_view text) {
  if (text == "exact") return Reduction::exact;
  if (text == "fast") return Reduction::fast;
  throw Error(fmt::format("unknown reduction \"{}\": use exact or fast", text));
}

namespace {

// What the ranks of one local group share: each collective publishes every rank's input,
// waits for all of them, lets each rank read what it needs, and waits again before any input
// may change.
struct Shared {
  explicit Shared(std::size_t n) : size(n), inputs(n, nullptr) {}

  // Waits until every rank has arrived; throws descent::Error when a rank has failed.
  void barrier() {
    std::unique_lock lock(mutex);
    if (failed) throw_failed();
    const std::uint64_t seen = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      changed.notify_all();
      return;
    }
    changed.wait(lock, [&] { return generation != seen || failed; });
    if (generation == seen) throw_failed();
  }

  void fail(std::size_t rank) noexcept {
    const std::lock_guard lock(mutex);
    if (!failed) failed_rank = rank;
    failed = true;
    changed.notify_all();
  }

  [[noreturn]] void throw_failed() const {
    throw Error(
        fmt::format("rank {} of the local group failed: the group cannot go on", failed_rank));
  }

  const std::size_t size;
  std::vector<const void*> inputs;
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t arrived = 0;
  std::uint64_t generation = 0;
  bool failed = false;
  std::size_t failed_rank = 0;
};

// What a rank publishes for an alltoall: its send buffer and its counts per rank.
struct Exchange {
  const float* data;
  const std::size_t* counts;
};

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<Shared> shared, std::size_t rank)
      : shared_(std::move(shared)), rank_(rank), ones_(shared_->size, 1) {}

  std::size_t rank() const noexcept override { return rank_; }
  std::size_t size() const noexcept override { return shared_->size; }

  void alltoall(std::span<const float> send, std::span<const std::size_t> send_counts,
                std::span<float> recv, std::span<const std::size_t> recv_counts) override {
    const InUse in_use(*this);
    const std::size_t sent =
        std::accumulate(send_counts.begin(), send_counts.end(), std::size_t{0});
    const std::size_t received =
        std::accumulate(recv_counts.begin(), recv_counts.end(), std::size_t{0});
    if (send_counts.size() != size() || recv_counts.size() != size() || sent != send.size() ||
        received != recv.size()) {
      throw Error(fmt::format("alltoall on rank {}: counts that do not fit the buffers", rank_));
    }
    const Exchange mine{send.data(), send_counts.data()};
    publish(&mine);
    std::size_t offset = 0, mismatch = size();
    for (std::size_t q = 0; q < size(); ++q) {
      // Rank q's block for this rank starts after its blocks for the ranks before this one.
      const auto* theirs = static_cast<const Exchange*>(shared_->inputs[q]);
      std::size_t at = 0;
      for (std::size_t r = 0; r < rank_; ++r) at += theirs->counts[r];
      if (theirs->counts[rank_] != recv_counts[q]) {
        mismatch = q;
        break;
      }
      if (recv_counts[q] > 0)
        std::memcpy(recv.data() + offset, theirs->data + at, recv_counts[q] * sizeof(float));
      offset += recv_counts[q];
    }
    // The others may still read this rank's buffer until everyone is through.
    shared_->barrier();
    if (mismatch < size()) {
      throw Error(
          fmt::format("alltoall: rank {} sends a block rank {} does not expect", mismatch, rank_));
    }
  }
  void allgather(std::span<float> values, std::span<const std::size_t> counts) override {
    const InUse in_use(*this);
    if (counts.size() != size() ||
        std::accumulate(counts.begin(), counts.end(), std::size_t{0}) != values.size()) {
      throw Error(fmt::format("allgather on rank {}: counts that do not fit the buffer", rank_));
    }
    publish(values.data());
    std::size_t offset = 0;
    for (std::size_t q = 0; q < size(); ++q) {
      if (q != rank_ && counts[q] > 0) {
        std::memcpy(values.data() + offset, static_cast<const float*>(shared_->inputs[q]) + offset,
                    counts[q] * sizeof(float));
      }
      offset += counts[q];
    }
    shared_->barrier();
  }
  void allgather(std::span<const double> mine, std::span<double> all,
                 std::span<const std::size_t> counts) override {
    gather(mine, all, counts, 1);
  }
  void allgather(std::uint64_t mine, std::span<std::uint64_t> all) override {
    gather(std::span<const std::uint64_t>(&mine, 1), all, ones_, 1);
  }
  void allreduce_sum(std::span<float> values) override { reduce_sum(values); }
  void allreduce_sum(std::span<double> values) override { reduce_sum(values); }
  void fail() noexcept override { shared_->fail(rank_); }
  std::uint64_t allreduce_or(std::uint64_t bits) override {
    const InUse in_use(*this);
    publish(&bits);
    std::uint64_t out = 0;
    for (const void* in : shared_->inputs) out |= *static_cast<const std::uint64_t*>(in);
    shared_->barrier();
    return out;
  }

 private:
  // Marks the rank busy for one collective. A rank is one thread's: a second thread entering
  // a collective on it would publish over the first one's input and arrive twice at the
  // barrier, which the other ranks would pass too early (reading freed buffers).
  class InUse {
   public:
    explicit InUse(LocalCommunicator& c) : c_(c) {
      if (c_.busy_.exchange(true, std::memory_order_acquire)) {
        throw Error(fmt::format(
            "rank {} of the local group is in a collective on another thread: each rank's "
            "communicator belongs to one thread",
            c_.rank_));
      }
    }
    ~InUse() { c_.busy_.store(false, std::memory_order_release); }
    InUse(const InUse&) = delete;
    InUse& operator=(const InUse&) = delete;

   private:
    LocalCommunicator& c_;
  };

  void publish(const void* input) {
    shared_->inputs[rank_] = input;
    shared_->barrier();
  }

  template <class T>
  void gather(std::span<const T> mine, std::span<T> all, std::span<const std::size_t> counts,
              std::size_t block) {
    const InUse in_use(*this);
    check_counts(counts, mine.size(), all.size(), block);
    publish(mine.data());
    std::size_t offset = 0;
    for (std::size_t r = 0; r < size(); ++r) {
      const std::size_t n = counts[r] * block;
      if (n > 0) std::memcpy(all.data() + offset, shared_->inputs[r], n * sizeof(T));
      offset += n;
    }
    shared_->barrier();
  }

  // Every rank adds the ranks' values in rank order, so all get the same bits.
  template <class T>
  void reduce_sum(std::span<T> values) {
    const InUse in_use(*this);
    std::vector<T>& sum = sum_buffer<T>();  // kept from call to call: no allocation per step
    sum.assign(values.size(), T{0});
    publish(values.data());
    for (std::size_t r = 0; r < size(); ++r) {
      const T* in = static_cast<const T*>(shared_->inputs[r]);
      for (std::size_t i = 0; i < values.size(); ++i) sum[i] += in[i];
    }
    shared_->barrier();
    std::copy(sum.begin(), sum.end(), values.begin());
  }

  void check_counts(std::span<const std::size_t> counts, std::size_t mine, std::size_t all,
                    std::size_t block) const {
    std::size_t total = 0;
    for (std::size_t c : counts) total += c;
    if (counts.size() != size() || mine != counts[rank_] * block || all != total * block) {
      throw Error(fmt::format(
          "allgather on rank {}: {} counts for {} ranks, {} values given for {}, {} received "
          "for {}",
          rank_, counts.size(), size(), mine, counts.size() == size() ? counts[rank_] * block : 0,
          all, total * block));
    }
  }

  template <class T>
  std::vector<T>& sum_buffer() {
    if constexpr (std::is_same_v<T, float>) {
      return float_sum_;
    } else {
      return double_sum_;
    }
  }

  std::shared_ptr<Shared> shared_;
  std::size_t rank_;
  std::vector<std::size_t> ones_;  // one value per rank
  std::vector<float> float_sum_;
  std::vector<double> double_sum_;
  std::atomic<bool> busy_{false};
};

}  // namespace

std::vector<std::shared_ptr<Communicator>> make_local_group(std::size_t n) {
  if (n == 0) throw Error("make_local_group: a group needs at least one rank");
  // Each rank is a thread of this process, and the group's exchange space grows as n^2.
  if (n > kMaxThreads) {
    throw Error(
        fmt::format("make_local_group: {} ranks: at most {} (one thread each)", n, kMaxThreads));
  }
  auto shared = std::make_shared<Shared>(n);
  std::vector<std::shared_ptr<Communicator>> group;
  for (std::size_t r = 0; r < n; ++r)
    group.push_back(std::make_shared<LocalCommunicator>(shared, r));
  return group;
}

}  // namespace descent
