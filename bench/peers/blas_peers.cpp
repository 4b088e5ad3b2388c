#include "peers/blas_peers.hpp"

#ifdef DESCENT_BENCH_OPENBLAS
#include <cblas.h>
#endif
#ifdef DESCENT_BENCH_ONEDNN
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace bench::peers {

bool available(Blas lib) noexcept {
  switch (lib) {
    case Blas::openblas:
#ifdef DESCENT_BENCH_OPENBLAS
      return true;
#else
      return false;
#endif
    case Blas::onednn:
#ifdef DESCENT_BENCH_ONEDNN
      return true;
#else
      return false;
#endif
  }
  return false;
}

void set_threads([[maybe_unused]] std::size_t threads) noexcept {
#ifdef DESCENT_BENCH_OPENBLAS
  openblas_set_num_threads(static_cast<int>(threads));
#endif
#ifdef DESCENT_BENCH_ONEDNN
  omp_set_num_threads(static_cast<int>(threads));
#endif
}

void sgemm(Blas lib, [[maybe_unused]] descent::Trans ta, [[maybe_unused]] descent::Trans tb,
           [[maybe_unused]] std::size_t m, [[maybe_unused]] std::size_t n,
           [[maybe_unused]] std::size_t k, [[maybe_unused]] float alpha,
           [[maybe_unused]] const float* a, [[maybe_unused]] std::size_t lda,
           [[maybe_unused]] const float* b, [[maybe_unused]] std::size_t ldb,
           [[maybe_unused]] float beta, [[maybe_unused]] float* c,
           [[maybe_unused]] std::size_t ldc) noexcept {
  using descent::Trans;
  switch (lib) {
    case Blas::openblas:
#ifdef DESCENT_BENCH_OPENBLAS
      cblas_sgemm(CblasRowMajor, ta == Trans::no ? CblasNoTrans : CblasTrans,
                  tb == Trans::no ? CblasNoTrans : CblasTrans, static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                  static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
#endif
      return;
    case Blas::onednn:
#ifdef DESCENT_BENCH_ONEDNN
      dnnl_sgemm(ta == Trans::no ? 'N' : 'T', tb == Trans::no ? 'N' : 'T',
                 static_cast<dnnl_dim_t>(m), static_cast<dnnl_dim_t>(n), static_cast<dnnl_dim_t>(k),
                 alpha, a, static_cast<dnnl_dim_t>(lda), b, static_cast<dnnl_dim_t>(ldb), beta, c,
                 static_cast<dnnl_dim_t>(ldc));
#endif
      return;
  }
}

}  // namespace bench::peers
