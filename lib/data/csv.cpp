// The CSV reader. Every error names file:line:column and the column's header name.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/c_number.hpp"
#include "core/memory.hpp"
#include "core/user_text.hpp"
#include "data/read_file.hpp"
#include "descent/data.hpp"
#include "descent/error.hpp"

namespace descent {
namespace {

// Auto-detection: a target with more distinct values than this is regression.
constexpr std::size_t kMaxAutoClasses = 100;
// A class label at or above this is an error, not a class index.
constexpr std::uint32_t kMaxClasses = 65536;

struct Field {
  std::string_view text;
  std::size_t column;  // 1-based character column where the field starts
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void split_fields(std::string_view line, std::vector<Field>& fields) {
  fields.clear();
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
    fields.push_back({trim(line.substr(start, end - start)), start + 1});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

// A CSV text's lines, each without its terminator. Lines end in LF or CRLF. A file whose first
// line ends in a CR alone (classic Mac OS, perhaps touched since by an editor that added an LF
// or a CRLF) ends them in any of CR, LF and CRLF. A UTF-8 byte-order mark (as spreadsheets
// write) is not part of the first line.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);
    const std::size_t first = text_.find_first_of("\r\n");
    any_break_ = first != std::string_view::npos && text_[first] == '\r' &&
                 (first + 1 == text_.size() || text_[first + 1] != '\n');
  }
  // The next line; false at the end.
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    std::size_t end = any_break_ ? text_.find_first_of("\r\n", pos_) : text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    if (!any_break_ && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end + 1;
    if (any_break_ && end < text_.size() && text_[end] == '\r' && pos_ < text_.size() &&
        text_[pos_] == '\n')
      ++pos_;  // CRLF: one break
    ++number_;
    return true;
  }
  // The next line that is not blank (the header is the first); false where none is left.
  bool next_nonblank(std::string_view& line) {
    while (next(line))
      if (!trim(line).empty()) return true;
    return false;
  }
  // The last line's number, from 1.
  std::size_t number() const noexcept { return number_; }
  // How many bytes are left.
  std::size_t bytes_left() const noexcept { return pos_ < text_.size() ? text_.size() - pos_ : 0; }
  // How many lines are left (at most; blank ones included).
  std::size_t left() const noexcept {
    if (pos_ >= text_.size()) return 0;
    const std::string_view rest = text_.substr(pos_);
    const auto is_break = [this](char c) { return c == '\n' || (any_break_ && c == '\r'); };
    return static_cast<std::size_t>(std::count_if(rest.begin(), rest.end(), is_break)) +
           (is_break(rest.back()) ? 0 : 1);
  }

 private:
  std::string_view text_;
  bool any_break_ = false;  // CR, LF and CRLF all end a line
  std::size_t pos_ = 0;
  std::size_t number_ = 0;
};

// "line:column" of data row `row`'s last field (rows from 0, after the header), for messages:
// found again only when one is needed, rather than kept for every row.
std::string target_place(std::string_view text, std::size_t row) {
  Lines lines(text);
  std::string_view line;
  std::vector<Field> fields;
  lines.next_nonblank(line);  // the header
  for (std::size_t i = 0; lines.next_nonblank(line); ++i) {
    if (i != row) continue;
    split_fields(line, fields);
    return fmt::format("{}:{}", lines.number(), fields.back().column);
  }
  return "?";
}

// Human-readable form of a field for messages (bounded, printable, ASCII).
std::string shown(std::string_view text) {
  return detail::printable(text, 40, true);
}

}  // namespace

std::string_view to_string(Task task) noexcept {
  return task == Task::classification ? "classification" : "regression";
}

TaskHint parse_task_hint(std::string_view name) {
  if (name == "auto") return TaskHint::automatic;
  if (name == "classification") return TaskHint::classification;
  if (name == "regression") return TaskHint::regression;
  throw Error(fmt::format("unknown task \"{}\": use auto, classification or regression", name));
}

Dataset parse_csv(std::string_view text, std::string_view name, TaskHint hint) {
  return parse_csv_columns(text, name, hint, true);
}

namespace {

// What the last column of a CSV file is.
enum class LastColumn { feature, target, ignored };

Dataset parse_columns(std::string_view text, std::string_view name, TaskHint hint,
                      LastColumn last) {
  const bool has_target = last != LastColumn::feature;
  if (hint != TaskHint::automatic && hint != TaskHint::classification &&
      hint != TaskHint::regression) {
    throw Error(fmt::format("{}: task hint {} is not automatic, classification or regression", name,
                            static_cast<int>(hint)));
  }
  if (text.empty()) throw Error(fmt::format("{}: the file is empty", name));
  Lines lines(text);
  Dataset data;
  data.name = std::string(name);
  std::string_view line;
  std::vector<Field> fields;
  const bool have_header = lines.next_nonblank(line);
  if (!have_header) throw Error(fmt::format("{}: the file has no header row", name));
  if (line.find('\0') != std::string_view::npos)
    throw Error(fmt::format("{}:{}: the file is binary, not CSV text", name, lines.number()));
  const std::string_view header = line;
  split_fields(line, fields);
  const std::size_t columns = fields.size();
  if (columns < (has_target ? 2u : 1u)) {
    throw Error(
        fmt::format("{}:{}: the header has {} column; need at least one feature and the "
                    "target (the last column)",
                    name, lines.number(), columns));
  }
  bool all_numbers = true, counting = true;  // counting: 0,1,2,... or 1,2,3,... (pandas' names)
  for (std::size_t c = 0; c < fields.size(); ++c) {
    const Field& f = fields[c];
    if (f.text.empty())
      throw Error(
          fmt::format("{}:{}:{}: empty column name in the header", name, lines.number(), f.column));
    data.feature_names.emplace_back(f.text);
    float value = 0.0f;
    const auto [end, ec] = std::from_chars(f.text.data(), f.text.data() + f.text.size(), value);
    all_numbers = all_numbers && ec == std::errc() && end == f.text.data() + f.text.size();
    std::size_t index = 0;
    const auto [iend, iec] = std::from_chars(f.text.data(), f.text.data() + f.text.size(), index);
    counting = counting && iec == std::errc() && iend == f.text.data() + f.text.size() &&
               index == c + (fields.front().text == "1" ? 1 : 0);
  }
  // A first line of numbers only is a row of data in a file without a header: taken as the
  // header, that row would be lost without a word. Column names that count up from 0 or 1
  // (what pandas writes for an unnamed frame) are names.
  if (all_numbers && !counting) {
    throw Error(
        fmt::format("{}:{}: the first line is all numbers, a row of data: the file needs "
                    "a header row of column names first",
                    name, lines.number()));
  }
  if (has_target) {
    if (last == LastColumn::target) data.target_name = data.feature_names.back();
    data.feature_names.pop_back();
  }
  const std::size_t features = has_target ? columns - 1 : columns;

  // Every cell read, row by row, in a block sized once for the most rows the rest can hold,
  // checked against the memory left: grown as it came, it could pass that unchecked. A row is
  // a line, of at least `read` digits and columns - 1 commas: blank lines and short rows (an
  // error, found below) do not count for more than their bytes.
  const std::size_t read = last == LastColumn::ignored ? features : columns;
  const std::size_t shortest_row = read + columns - 1;
  const std::size_t most_rows = std::min(lines.left(), lines.bytes_left() / (shortest_row + 1) + 1);
  const bool has_labels = last == LastColumn::target;  // the target read again, exactly
  if (!detail::memory_left_for(most_rows *
                               (read * sizeof(float) + (has_labels ? sizeof(double) : 0)))) {
    throw Error(
        fmt::format("{}: out of memory for its up to {} rows of {} numbers (they would "
                    "leave under {} MiB free)",
                    name, most_rows, read, detail::kKeepFreeMiB));
  }
  std::vector<float> cells;
  cells.reserve(most_rows * read);
  // The target as a double too: whether it is a class label is decided on the number written,
  // not on its float (16777217 and 0.99999999 are no labels 16777216 and 1).
  std::vector<double> exact;
  if (has_labels) exact.reserve(most_rows);
  std::size_t rows = 0;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    split_fields(line, fields);
    if (fields.size() != columns) {
      // Two readings of the file this reader does not share, where they would explain it.
      std::string why;
      if (header.find('"') != std::string_view::npos) {
        why =
            " (the header has a quote: quoted fields are not read as such, a comma between "
            "quotes separates fields too)";
      } else if (line.find('\r') != std::string_view::npos) {
        why = " (the line holds a CR: in a file whose lines end in LF, a CR alone ends no line)";
      }
      throw Error(fmt::format("{}:{}: expected {} fields as in the header, got {}{}", name,
                              lines.number(), columns, fields.size(), why));
    }
    // (An ignored last column is not read: it may hold anything, class names too.)
    for (std::size_t c = 0; c < read; ++c) {
      const Field& f = fields[c];
      const std::string_view column_name =
          c < features ? std::string_view(data.feature_names[c]) : data.target_name;
      std::string_view t = f.text;
      if (t.size() > 1 && t.front() == '+' && t[1] != '-' && t[1] != '+') t.remove_prefix(1);
      float value = 0.0f;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
      if (t.empty() || ec == std::errc::invalid_argument || end != t.data() + t.size()) {
        throw Error(fmt::format("{}:{}:{}: column \"{}\": expected a number, got \"{}\"", name,
                                lines.number(), f.column, column_name, shown(f.text)));
      }
      if (ec == std::errc::result_out_of_range) {
        // Underflow (1e-50) rounds to zero or a subnormal, as strtof does; overflow is an error.
        value = detail::strtof_c(std::string(t).c_str(), nullptr);
      }
      if (!std::isfinite(value)) {
        throw Error(fmt::format("{}:{}:{}: column \"{}\": \"{}\" is not a finite float", name,
                                lines.number(), f.column, column_name, shown(f.text)));
      }
      cells.push_back(value);
      if (has_labels && c == features) {
        double number = 0.0;
        const auto [exact_end, exact_ec] = std::from_chars(t.data(), t.data() + t.size(), number);
        if (exact_ec == std::errc::result_out_of_range)
          number = detail::strtod_c(std::string(t).c_str(), nullptr);
        exact.push_back(exact_end == t.data() + t.size() ? number : static_cast<double>(value));
      }
    }
    ++rows;
  }
  if (rows == 0) throw Error(fmt::format("{}: no data rows after the header", name));

  data.features = Matrix(rows, features);
  if (last != LastColumn::target) {
    // (`features` cells a row: every column, or every one but the ignored last.)
    for (std::size_t i = 0; i < rows; ++i)
      std::copy_n(cells.data() + i * features, features, data.features.row(i));
    data.task = Task::regression;
    data.values = Matrix(rows, 0);
    return data;
  }
  std::vector<float> targets(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    std::copy_n(cells.data() + i * columns, features, data.features.row(i));
    targets[i] = cells[i * columns + features];
  }

  // Decide the task: labels 0..K-1 with K <= kMaxAutoClasses, each class used about twice or
  // more on average; a target with at most two values is always classes.
  bool integral = true;
  double largest = 0.0;
  std::set<double> distinct;
  for (double t : exact) {
    integral = integral && t >= 0.0 && std::floor(t) == t;
    largest = std::max(largest, t);
    if (distinct.size() <= kMaxAutoClasses) distinct.insert(t);
  }
  const bool looks_like_classes = integral && largest < static_cast<double>(kMaxAutoClasses) &&
                                  (distinct.size() <= 2 || distinct.size() * 2 <= rows);
  const bool classification =
      hint == TaskHint::classification || (hint == TaskHint::automatic && looks_like_classes);

  if (!classification) {
    data.task = Task::regression;
    data.values = Matrix(rows, 1);
    std::copy(targets.begin(), targets.end(), data.values.data());
    return data;
  }
  data.task = Task::classification;
  data.labels.resize(rows);
  std::uint32_t max_label = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    const double t = exact[i];
    if (t < 0.0 || std::floor(t) != t) {
      throw Error(
          fmt::format("{}:{}: target \"{}\": class labels must be integers 0..K-1, got "
                      "{}",
                      name, target_place(text, i), data.target_name, t));
    }
    if (t >= static_cast<double>(kMaxClasses)) {
      throw Error(
          fmt::format("{}:{}: target \"{}\": class label {} is too large (labels are "
                      "0..K-1 with K <= {})",
                      name, target_place(text, i), data.target_name, t, kMaxClasses));
    }
    data.labels[i] = static_cast<std::uint32_t>(t);
    max_label = std::max(max_label, data.labels[i]);
  }
  data.classes = static_cast<std::size_t>(max_label) + 1;
  // Told it is classification (say, a test set for evaluation), one class is data; guessed
  // from the values, it is more likely a mistake (a target of all 5s is not 6 classes).
  if (distinct.size() == 1 && hint != TaskHint::classification) {
    throw Error(
        fmt::format("{}: target \"{}\": classification needs at least 2 classes, every "
                    "row has class {}",
                    name, data.target_name, data.labels.front()));
  }
  return data;
}

}  // namespace

Dataset parse_csv_columns(std::string_view text, std::string_view name, TaskHint hint,
                          bool has_target) {
  return parse_columns(text, name, hint, has_target ? LastColumn::target : LastColumn::feature);
}

Dataset parse_csv_without_last(std::string_view text, std::string_view name) {
  return parse_columns(text, name, TaskHint::regression, LastColumn::ignored);
}

Dataset parse_csv_features(std::string_view text, std::string_view name, std::size_t features) {
  // The header decides, before any row is read: a file of another width is refused at once,
  // and one with its target last is parsed once, without it.
  if (features == 0)
    throw Error(
        fmt::format("{}: features for a model of 0 inputs asked for (a model takes >= 1)", name));
  Lines lines(text);
  std::string_view header;
  if (lines.next_nonblank(header) && header.find('\0') == std::string_view::npos) {
    std::vector<Field> fields;
    split_fields(header, fields);
    if (fields.size() == features + 1) return parse_csv_without_last(text, name);
    if (fields.size() != features) {
      auto count = [](std::size_t n, std::string_view what) {
        return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
      };
      throw Error(
          fmt::format("{}:{}: the header has {}; the model takes {} (give {}, or {} with "
                      "the target last)",
                      name, lines.number(), count(fields.size(), "column"),
                      count(features, "feature"), count(features, "column"), features + 1));
    }
  }
  // (What else is wrong, the parser names.)
  return parse_csv_columns(text, name, TaskHint::regression, false);
}

Dataset load_csv(const std::filesystem::path& path, TaskHint hint) {
  return load_csv_columns(path, hint, true);
}

namespace {

std::string read_csv_text(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(fmt::format("data file \"{}\" is a directory", path.string()));
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw Error(fmt::format("data file \"{}\" is not a regular file", path.string()));
  const bool gz = path.extension() == ".gz";
  return gz ? detail::read_gzip(path) : detail::read_plain(path);
}

}  // namespace

Dataset load_csv_columns(const std::filesystem::path& path, TaskHint hint, bool has_target) {
  return parse_csv_columns(read_csv_text(path), path.string(), hint, has_target);
}

Dataset load_csv_features(const std::filesystem::path& path, std::size_t features) {
  return parse_csv_features(read_csv_text(path), path.string(), features);
}

Dataset load_csv_without_last(const std::filesystem::path& path) {
  return parse_csv_without_last(read_csv_text(path), path.string());
}

}  // namespace descent
