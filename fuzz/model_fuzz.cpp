#include <span>

#include "descent/error.hpp"
#include "descent/io.hpp"
#include "targets.hpp"

namespace descent::fuzz {

int model(const std::uint8_t* data, std::size_t size) {
  try {
    const LoadedModel m =
        parse_model(std::span<const char>(reinterpret_cast<const char*>(data), size), "fuzz.model");
    // A model that loads must run.
    Matrix x(2, m.network.inputs());
    const Matrix y = m.network.predict(x.view());
    if (y.rows() != 2 || y.cols() != m.network.outputs()) __builtin_trap();
    return 1;
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace descent::fuzz

DESCENT_FUZZ_ENTRY(model)
