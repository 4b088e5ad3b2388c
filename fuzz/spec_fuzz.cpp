#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "targets.hpp"

namespace descent::fuzz {

int spec(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  int accepted = 0;
  try {
    auto optimizer = make_optimizer(text);
    std::vector<float> p(19, 0.5f), g(19, -0.25f);
    optimizer->step(p, g);
    optimizer->step(p, g);
    accepted = 1;
  } catch (const Error&) {
  }
  try {
    auto schedule = make_schedule(text, 0.1);
    for (int i = 0; i < 5; ++i) schedule->step(1.0 / (1 + i));
    accepted = 1;
  } catch (const Error&) {
  }
  return accepted;
}

}  // namespace descent::fuzz

DESCENT_FUZZ_ENTRY(spec)
