#pragma once
// Row-major float matrices on 64-byte-aligned storage, and non-owning views into them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

#include "descent/error.hpp"

namespace descent {

inline constexpr std::size_t kAlignment = 64;

namespace detail {
// `bytes` (a multiple of kAlignment) of zeroed memory aligned to kAlignment, or null. Blocks
// of 64 MiB and more (data sets) are aligned to 2 MiB and asked of the kernel as transparent
// huge pages, where it offers them: rows gathered from all over a large data set then miss
// the TLB far less often. Freed with std::free.
void* allocate_zeroed(std::size_t bytes) noexcept;
}  // namespace detail

// A zero-initialised array of T whose first element is 64-byte aligned.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t size) { resize(size); }
  AlignedBuffer(const AlignedBuffer& other) : AlignedBuffer(other.size_) {
    if (size_ != 0) std::memcpy(data_, other.data_, size_ * sizeof(T));
  }
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  // Discards the contents; the new elements are zero.
  void resize(std::size_t size) {
    std::free(std::exchange(data_, nullptr));
    size_ = 0;
    if (size == 0) return;
    if (size > (SIZE_MAX - kAlignment) / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = (size * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    data_ = static_cast<T*>(detail::allocate_zeroed(bytes));
    if (data_ == nullptr) throw std::bad_alloc();
    size_ = size;
  }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  std::span<T> span() noexcept { return {data_, size_}; }
  std::span<const T> span() const noexcept { return {data_, size_}; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// A read-only view of rows x cols floats, row i starting at data + i * stride.
struct ConstMatrixView {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  const float* row(std::size_t i) const noexcept { return data + i * stride; }
  float operator()(std::size_t i, std::size_t j) const noexcept { return data[i * stride + j]; }
  // Rows [first, first + count).
  ConstMatrixView rows_range(std::size_t first, std::size_t count) const noexcept {
    return {data + first * stride, count, cols, stride};
  }
};

// A writable view of rows x cols floats, row i starting at data + i * stride.
struct MatrixView {
  float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  float* row(std::size_t i) const noexcept { return data + i * stride; }
  float& operator()(std::size_t i, std::size_t j) const noexcept { return data[i * stride + j]; }
  MatrixView rows_range(std::size_t first, std::size_t count) const noexcept {
    return {data + first * stride, count, cols, stride};
  }
  operator ConstMatrixView() const noexcept { return {data, rows, cols, stride}; }
};

// An owning, contiguous (stride == cols), 64-byte-aligned row-major float matrix.
class Matrix {
 public:
  Matrix() = default;
  // Throws std::bad_alloc when rows * cols overflows or cannot be allocated.
  Matrix(std::size_t rows, std::size_t cols)
      : storage_(checked_size(rows, cols)), rows_(rows), cols_(cols) {}

  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  std::size_t size() const noexcept { return rows_ * cols_; }
  bool empty() const noexcept { return size() == 0; }
  float* data() noexcept { return storage_.data(); }
  const float* data() const noexcept { return storage_.data(); }
  float* row(std::size_t i) noexcept { return data() + i * cols_; }
  const float* row(std::size_t i) const noexcept { return data() + i * cols_; }
  float& operator()(std::size_t i, std::size_t j) noexcept { return storage_[i * cols_ + j]; }
  float operator()(std::size_t i, std::size_t j) const noexcept { return storage_[i * cols_ + j]; }
  std::span<float> span() noexcept { return storage_.span(); }
  std::span<const float> span() const noexcept { return storage_.span(); }

  MatrixView view() noexcept { return {data(), rows_, cols_, cols_}; }
  ConstMatrixView view() const noexcept { return {data(), rows_, cols_, cols_}; }
  operator MatrixView() noexcept { return view(); }
  operator ConstMatrixView() const noexcept { return view(); }

 private:
  static std::size_t checked_size(std::size_t rows, std::size_t cols) {
    std::size_t size = 0;
    if (__builtin_mul_overflow(rows, cols, &size)) throw std::bad_alloc();
    return size;
  }

  AlignedBuffer<float> storage_;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

}  // namespace descent
