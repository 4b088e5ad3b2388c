// Executes an AVX2 + FMA instruction unconditionally. ctest runs it under qemu as a CPU
// without AVX and expects it to die: proof that the emulator would catch a kernel that
// executes an instruction the CPU lacks.
#include <immintrin.h>

#include <cstdio>

int main(int argc, char**) {
  volatile float seed = static_cast<float>(argc);
  __m256 v = _mm256_set1_ps(seed);
  v = _mm256_fmadd_ps(v, v, v);
  float out[8];
  _mm256_storeu_ps(out, v);
  std::printf("%f\n", static_cast<double>(out[0]));
  return 0;
}
