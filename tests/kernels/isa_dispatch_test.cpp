// Run-time ISA selection: detection agrees with the CPU, DESCENT_ISA forces a lower ISA, and
// a request the CPU cannot serve is refused with a clear error.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "descent/error.hpp"
#include "descent/kernels.hpp"
#include "kernels/kernel_table.hpp"

namespace descent {
namespace {

Isa isa_from_compiler_builtins() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  if (__builtin_cpu_supports("sse2")) return Isa::sse2;
  return Isa::scalar;
}

TEST(IsaDispatch, BestIsaAgreesWithTheCpu) {
  // The compiler's own CPUID reading is an independent witness of xsimd's detection.
  EXPECT_EQ(best_isa(), isa_from_compiler_builtins());
  // Under qemu, ctest says which CPU it emulates.
  if (const char* expected = std::getenv("DESCENT_EXPECT_BEST_ISA")) {
    EXPECT_EQ(to_string(best_isa()), std::string(expected));
  }
}

TEST(IsaDispatch, ActiveIsaIsTheEnvironmentsChoiceOrTheBest) {
  const char* forced = std::getenv("DESCENT_ISA");
  const Isa expected = forced != nullptr && *forced != '\0' ? parse_isa(forced) : best_isa();
  EXPECT_EQ(active_isa(), expected);
  EXPECT_EQ(&kernels::active(), kernels::table_for(expected));
  if (const char* want = std::getenv("DESCENT_EXPECT_ACTIVE_ISA")) {
    EXPECT_EQ(to_string(active_isa()), std::string(want));
  }
}

TEST(IsaDispatch, SupportedIsasRunFromScalarToTheBest) {
  const auto isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::scalar);
  EXPECT_EQ(isas.back(), best_isa());
  for (std::size_t i = 0; i < isas.size(); ++i) EXPECT_EQ(static_cast<std::size_t>(isas[i]), i);
  for (Isa isa : {Isa::scalar, Isa::sse2, Isa::avx2, Isa::avx512}) {
    EXPECT_EQ(isa_supported(isa), static_cast<int>(isa) <= static_cast<int>(best_isa()));
    EXPECT_EQ(kernels::table_for(isa) != nullptr, isa_supported(isa));
  }
}

TEST(IsaDispatch, ScalarIsTheReference) {
  EXPECT_EQ(kernels::table_for(Isa::scalar), &kernels::reference_table());
}

TEST(IsaDispatch, ResolvesRequests) {
  using kernels::resolve_isa_request;
  EXPECT_EQ(resolve_isa_request(nullptr, Isa::avx2), Isa::avx2);
  EXPECT_EQ(resolve_isa_request("", Isa::avx2), Isa::avx2);
  EXPECT_EQ(resolve_isa_request("sse2", Isa::avx2), Isa::sse2);
  EXPECT_EQ(resolve_isa_request("AVX2", Isa::avx512), Isa::avx2);
  EXPECT_EQ(resolve_isa_request("scalar", Isa::sse2), Isa::scalar);
}

TEST(IsaDispatch, RefusesUnknownAndUnavailableRequests) {
  using kernels::resolve_isa_request;
  try {
    resolve_isa_request("avx1024", Isa::avx512);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DESCENT_ISA=\"avx1024\""), std::string::npos) << e.what();
  }
  try {
    resolve_isa_request("avx512", Isa::avx2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_isa("neon"), Error);
  if (best_isa() != Isa::avx512) {
    EXPECT_THROW(set_isa(Isa::avx512), Error);
  }
}

}  // namespace
}  // namespace descent
