#include <string_view>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "targets.hpp"

namespace descent::fuzz {

int csv(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  int accepted = 0;
  for (TaskHint hint : {TaskHint::automatic, TaskHint::classification, TaskHint::regression}) {
    try {
      const Dataset d = parse_csv(text, "fuzz.csv", hint);
      // What the parser promises: the parts agree.
      if (d.task == Task::classification) {
        // One class only when told it is classification (a test set, say).
        const std::size_t fewest = hint == TaskHint::classification ? 1 : 2;
        if (d.labels.size() != d.rows() || d.classes < fewest) __builtin_trap();
        for (std::uint32_t label : d.labels)
          if (label >= d.classes) __builtin_trap();
      } else if (d.values.rows() != d.rows()) {
        __builtin_trap();
      }
      accepted = 1;
    } catch (const Error&) {
    }
  }
  try {
    parse_csv_columns(text, "fuzz.csv", TaskHint::regression, false);
  } catch (const Error&) {
  }
  try {
    // Every column but the last: a row of features for each row read.
    const Dataset d = parse_csv_without_last(text, "fuzz.csv");
    if (d.features.rows() != d.rows() || d.feature_names.size() != d.feature_count())
      __builtin_trap();
  } catch (const Error&) {
  }
  return accepted;
}

}  // namespace descent::fuzz

DESCENT_FUZZ_ENTRY(csv)
