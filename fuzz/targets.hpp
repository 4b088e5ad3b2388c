#pragma once
// The fuzz targets: each takes arbitrary bytes and returns 1 when the reader accepted them, 0
// when it refused them with a descent::Error. Anything else -- a crash, a sanitizer report, a
// leak, another exception -- is a bug. libFuzzer drives them (fuzz/*_fuzz.cpp with
// DESCENT_FUZZ_MAIN); tests/fuzz_corpus_test.cpp runs every committed corpus file through them.

#include <cstddef>
#include <cstdint>

namespace descent::fuzz {

int csv(const std::uint8_t* data, std::size_t size);         // parse_csv, every task hint
int model(const std::uint8_t* data, std::size_t size);       // parse_model
int checkpoint(const std::uint8_t* data, std::size_t size);  // parse_checkpoint
int spec(const std::uint8_t* data, std::size_t size);        // optimizer and schedule specs
int idx(const std::uint8_t* data, std::size_t size);   // parse_idx: images and labels

}  // namespace descent::fuzz

#ifdef DESCENT_FUZZ_MAIN
#define DESCENT_FUZZ_ENTRY(target)                                                    \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    descent::fuzz::target(data, size);                                                \
    return 0;                                                                         \
  }
#else
#define DESCENT_FUZZ_ENTRY(target)
#endif
