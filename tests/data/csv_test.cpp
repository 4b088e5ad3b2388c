#include <gtest/gtest.h>

#include <fmt/format.h>
#include <zlib.h>

#include <cstdlib>
#include <string>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

std::string error_of(std::string_view text, TaskHint hint = TaskHint::automatic) {
  try {
    parse_csv(text, "t.csv", hint);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Csv, ReadsFeaturesAndIntegerLabelsAsClassification) {
  const Dataset d = parse_csv("a,b,label\n1,2,0\n3,4.5,1\n-1,1e2,1\n5,6,0\n", "t.csv");
  EXPECT_EQ(d.task, Task::classification);
  EXPECT_EQ(d.rows(), 4u);
  EXPECT_EQ(d.feature_count(), 2u);
  EXPECT_EQ(d.classes, 2u);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.target_name, "label");
  EXPECT_FLOAT_EQ(d.features(1, 1), 4.5f);
  EXPECT_FLOAT_EQ(d.features(2, 1), 100.0f);
  EXPECT_EQ(d.labels, (std::vector<std::uint32_t>{0, 1, 1, 0}));
}

TEST(Csv, AHintOrTaskThatNamesNoneIsAnError) {
  EXPECT_EQ(error_of("x,y\n1,0\n", static_cast<TaskHint>(9)),
            "t.csv: task hint 9 is not automatic, classification or regression");
  Dataset d = parse_csv("x,y\n1,0\n2,1\n", "t.csv");
  d.task = static_cast<Task>(9);
  EXPECT_EQ(test::error_message([&] { d.check_parts(); }),
            "data \"t.csv\": task 9 is not classification or regression");
}

TEST(Csv, NonIntegerOrManyDistinctTargetsAreRegression) {
  const Dataset d = parse_csv("x,y\n1,0.5\n2,1.5\n", "t.csv");
  EXPECT_EQ(d.task, Task::regression);
  EXPECT_EQ(d.values.rows(), 2u);
  EXPECT_FLOAT_EQ(d.values(1, 0), 1.5f);
  std::string many = "x,y\n";
  for (int i = 0; i < 300; ++i) many += std::to_string(i) + "," + std::to_string(i) + "\n";
  EXPECT_EQ(parse_csv(many, "t.csv").task, Task::regression);
  EXPECT_EQ(parse_csv(many, "t.csv", TaskHint::classification).classes, 300u);
  EXPECT_EQ(parse_csv("x,y\n1,0\n2,1\n3,0\n", "t.csv", TaskHint::regression).task,
            Task::regression);
}

TEST(Csv, ToleratesCrlfBlankLinesAndSpaces) {
  const Dataset d = parse_csv("a , y\r\n\r\n 1 , 0\r\n2,1\r\n\n", "t.csv");
  EXPECT_EQ(d.rows(), 2u);
  EXPECT_EQ(d.feature_names[0], "a");
  EXPECT_FLOAT_EQ(d.features(0, 0), 1.0f);
}

// Classic Mac OS line ends (CR alone) read as lines too; a line number in an error counts them.
TEST(Csv, ReadsLinesEndedByCrAlone) {
  const Dataset d = parse_csv("a,y\r1,0\r\r2,1\r", "mac.csv");
  EXPECT_EQ(d.rows(), 2u);
  EXPECT_FLOAT_EQ(d.features(1, 0), 2.0f);
  const std::string error = test::error_message([] { parse_csv("a,y\r1,0\rx,1\r", "mac.csv"); });
  EXPECT_NE(error.find("mac.csv:3:1"), std::string::npos) << error;
}

// Such a file touched since by an editor that ended it in LF, or added CRLF lines: every break
// still ends a line (the first line's CR alone says how the file was written).
TEST(Csv, ACrFileWithSomeLfOrCrlfBreaksReadsEveryLine) {
  const Dataset d = parse_csv("a,b,y\r1,2,0\r3,4,1\r5,6,0\r7,8,1\n", "cr_lf.csv");
  EXPECT_EQ(d.rows(), 4u);
  EXPECT_EQ(d.feature_names[1], "b");
  EXPECT_FLOAT_EQ(d.features(3, 1), 8.0f);
  const Dataset mixed = parse_csv("a,y\r1,0\r\n2,1\n\r3,0", "mixed.csv");
  EXPECT_EQ(mixed.rows(), 3u);
  EXPECT_FLOAT_EQ(mixed.features(2, 0), 3.0f);
  const std::string error =
      test::error_message([] { parse_csv("a,y\r1,0\r\nx,1\n", "mixed.csv"); });
  EXPECT_NE(error.find("mixed.csv:3:1"), std::string::npos) << error;
}

TEST(Csv, ErrorsNameFileLineColumnAndColumnName) {
  EXPECT_EQ(error_of(""), "t.csv: the file is empty");
  EXPECT_EQ(error_of("\n\n"), "t.csv: the file has no header row");
  EXPECT_EQ(error_of("a,b\n"), "t.csv: no data rows after the header");
  EXPECT_EQ(error_of("only\n1\n"),
            "t.csv:1: the header has 1 column; need at least one feature and the target (the "
            "last column)");
  EXPECT_EQ(error_of("a,b,y\n1,2,0\n1,2\n"), "t.csv:3: expected 3 fields as in the header, got 2");
  EXPECT_EQ(error_of("a,b,y\n1,2,0\n3,n/a,1\n"),
            "t.csv:3:3: column \"b\": expected a number, got \"n/a\"");
  EXPECT_EQ(error_of("a,y\n1,0\n,1\n"), "t.csv:3:1: column \"a\": expected a number, got \"\"");
  EXPECT_EQ(error_of("a,y\nnan,0\n"), "t.csv:2:1: column \"a\": \"nan\" is not a finite float");
  EXPECT_EQ(error_of("a,y\n1,inf\n"), "t.csv:2:3: column \"y\": \"inf\" is not a finite float");
  EXPECT_EQ(error_of("a,y\n1e999,0\n"), "t.csv:2:1: column \"a\": \"1e999\" is not a finite float");
  EXPECT_EQ(error_of("a,,y\n1,2,3\n"), "t.csv:1:3: empty column name in the header");
}

TEST(Csv, ALastColumnLeftUnreadMayHoldAnything) {
  const Dataset d = parse_csv_without_last("a,b,species\n1,2,setosa\n3,4,\n5,6,7\n", "s.csv");
  ASSERT_EQ(d.rows(), 3u);
  ASSERT_EQ(d.feature_count(), 2u);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.features(1, 0), 3.0f);
  EXPECT_EQ(d.features(2, 1), 6.0f);
  EXPECT_EQ(d.values.cols(), 0u);
  // The other columns are read as ever, and every row still has the header's fields.
  EXPECT_THROW(parse_csv_without_last("a,b,c\n1,x,2\n", "s.csv"), Error);
  EXPECT_THROW(parse_csv_without_last("a,b,c\n1,2\n", "s.csv"), Error);
}

TEST(Csv, UnderflowIsZeroAndSignsAreStrict) {
  const Dataset d = parse_csv("a,y\n1e-50,0\n+2,1\n", "t.csv");
  EXPECT_EQ(d.features(0, 0), 0.0f);
  EXPECT_EQ(d.features(1, 0), 2.0f);
  EXPECT_EQ(error_of("a,y\n+-1,0\n"), "t.csv:2:1: column \"a\": expected a number, got \"+-1\"");
}

TEST(Csv, LargeIntegerTargetsAreRegressionNotClasses) {
  const Dataset d = parse_csv("a,y\n1,100000\n2,200000\n3,100000\n4,200000\n", "t.csv");
  EXPECT_EQ(d.task, Task::regression);
  const Dataset years = parse_csv("a,y\n1,1999\n2,2000\n3,1999\n4,2000\n5,1999\n", "t.csv");
  EXPECT_EQ(years.task, Task::regression);
}

TEST(Csv, AFirstLineOfNumbersIsDataNotAHeader) {
  // Taken as a header, the row would be lost: refused, naming the line.
  EXPECT_EQ(error_of("1.5,2,0\n3,4,1\n", TaskHint::automatic),
            "t.csv:1: the first line is all numbers, a row of data: the file needs a header row "
            "of column names first");
  // Names that count up from 0 or 1, as pandas writes for an unnamed frame, are names.
  EXPECT_EQ(parse_csv("0,1,2\n1,2,0\n3,4,1\n", "t.csv", TaskHint::automatic).rows(), 2u);
  EXPECT_EQ(parse_csv("1,2,3\n1,2,0\n3,4,1\n", "t.csv", TaskHint::automatic).feature_names,
            (std::vector<std::string>{"1", "2"}));
  // A byte-order mark is not part of the first name.
  EXPECT_EQ(parse_csv("\xEF\xBB\xBF"
                      "a,y\n1,0\n2,1\n",
                      "t.csv", TaskHint::automatic)
                .feature_names.front(),
            "a");
}

TEST(Csv, SpecialFilesAreRefused) {
  EXPECT_THROW(load_csv("/dev/zero"), Error);
  EXPECT_THROW(load_csv("/dev/null"), Error);
}

TEST(Csv, ClassLabelErrors) {
  EXPECT_EQ(error_of("a,y\n1,0.5\n2,1\n", TaskHint::classification),
            "t.csv:2:3: target \"y\": class labels must be integers 0..K-1, got 0.5");
  EXPECT_EQ(error_of("a,y\n1,-1\n2,1\n", TaskHint::classification),
            "t.csv:2:3: target \"y\": class labels must be integers 0..K-1, got -1");
  // A label is judged on the number written, not on its float: 16777217 is no 16777216, and
  // 0.99999999 no 1.
  EXPECT_EQ(error_of("a,y\n1,16777217\n2,1\n", TaskHint::classification),
            "t.csv:2:3: target \"y\": class label 16777217 is too large (labels are 0..K-1 with "
            "K <= 65536)");
  EXPECT_EQ(error_of("a,y\n1,0.99999999\n2,1\n", TaskHint::classification),
            "t.csv:2:3: target \"y\": class labels must be integers 0..K-1, got 0.99999999");
  EXPECT_EQ(parse_csv("a,y\n1,0.99999999\n2,1\n3,0\n4,1\n", "t.csv").task, Task::regression);
  // Blank lines and CRLF ends counted, the column where the target starts.
  EXPECT_EQ(error_of("\r\na,y\r\n1,0\r\n\r\n  \r\n22, 0.5\r\n", TaskHint::classification),
            "t.csv:6:4: target \"y\": class labels must be integers 0..K-1, got 0.5");
  EXPECT_EQ(error_of("a,y\n1,0\n2,0\n", TaskHint::automatic),
            "t.csv: target \"y\": classification needs at least 2 classes, every row has class 0");
  // One class is one class whatever its number: all 5s are not six classes.
  EXPECT_EQ(error_of("a,y\n1,5\n2,5\n3,5\n", TaskHint::automatic),
            "t.csv: target \"y\": classification needs at least 2 classes, every row has class 5");
  // Told it is classification (a test set, say), one class is accepted.
  const Dataset one = parse_csv("a,y\n1,0\n2,0\n", "t.csv", TaskHint::classification);
  EXPECT_EQ(one.classes, 1u);
  EXPECT_EQ(one.labels, (std::vector<std::uint32_t>{0, 0}));
  EXPECT_NE(error_of("a,y\n1,100000\n2,1\n", TaskHint::classification).find("too large"),
            std::string::npos);
}

TEST(Csv, LoadsPlainAndGzipFilesAndReportsMissingOnes) {
  test::TempDir dir;
  const std::string text = "a,b,y\n1,2,0\n3,4,1\n";
  test::write_text(dir / "plain.csv", text);
  gzFile gz = gzopen((dir / "packed.csv.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  const Dataset a = load_csv(dir / "plain.csv");
  const Dataset b = load_csv(dir / "packed.csv.gz");
  EXPECT_EQ(a.rows(), 2u);
  EXPECT_EQ(b.rows(), 2u);
  EXPECT_EQ(b.labels, a.labels);
  try {
    load_csv(dir / "missing.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.csv"), std::string::npos);
  }
  // A truncated gzip stream is an error, not silently fewer rows.
  const std::string packed = test::read_text(dir / "packed.csv.gz");
  test::write_text(dir / "cut.csv.gz", packed.substr(0, packed.size() - 6));
  EXPECT_THROW(load_csv(dir / "cut.csv.gz"), Error);
  // Bytes after the end of the stream are damage, not ignored; another gzip member (files
  // joined with cat) and zero padding are read as gzip reads them.
  test::write_text(dir / "tail.csv.gz", packed + "garbage");
  try {
    load_csv(dir / "tail.csv.gz");
    ADD_FAILURE() << "trailing bytes were ignored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("7 bytes of something else after the end of the gzip"),
              std::string::npos)
        << e.what();
  }
  const std::string more = "5,6,1\n";
  gz = gzopen((dir / "second.gz").c_str(), "wb");
  gzwrite(gz, more.data(), static_cast<unsigned>(more.size()));
  gzclose(gz);
  test::write_text(dir / "joined.csv.gz", packed + test::read_text(dir / "second.gz"));
  EXPECT_EQ(load_csv(dir / "joined.csv.gz").rows(), 3u);
  test::write_text(dir / "padded.csv.gz", packed + std::string(512, '\0'));
  EXPECT_EQ(load_csv(dir / "padded.csv.gz").rows(), 2u);
  // A .gz name on a file that is not gzip: read as it is.
  test::write_text(dir / "notpacked.csv.gz", text);
  EXPECT_EQ(load_csv(dir / "notpacked.csv.gz").labels, a.labels);
  test::write_text(dir / "binary.csv", std::string("\x00\x01\x02,\n", 5));
  EXPECT_THROW(load_csv(dir / "binary.csv"), Error);
  EXPECT_THROW(load_csv(dir.path()), Error);
}

TEST(Csv, FeaturesForAModelAreItsColumnsOrOneMoreWithTheTargetLast) {
  const Dataset same = parse_csv_features("a,b\n1,2\n3,4\n", "p.csv", 2);
  EXPECT_EQ(same.feature_count(), 2u);
  EXPECT_EQ(same.rows(), 2u);
  EXPECT_FLOAT_EQ(same.features(1, 1), 4.0f);
  // The target last is not read, whatever it holds (class names too).
  const Dataset with_target =
      parse_csv_features("\xEF\xBB\xBF\na,b,y\n1,2,setosa\n3,4,\n", "p.csv", 2);
  EXPECT_EQ(with_target.feature_count(), 2u);
  EXPECT_EQ(with_target.rows(), 2u);
  EXPECT_FLOAT_EQ(with_target.features(1, 0), 3.0f);
  // Another width is named from the header (line 2 here, after a blank line), before any row
  // is read: the bad row below is never reached.
  EXPECT_EQ(test::error_message([] { parse_csv_features("\na,b,c,d\n1,2,3,x\n", "p.csv", 2); }),
            "p.csv:2: the header has 4 columns; the model takes 2 features (give 2 columns, or 3 "
            "with the target last)");
  EXPECT_EQ(test::error_message([] { parse_csv_features("a,b,c\n1,2,3\n", "p.csv", 1); }),
            "p.csv:1: the header has 3 columns; the model takes 1 feature (give 1 column, or 2 "
            "with the target last)");
  EXPECT_EQ(test::error_message([] { parse_csv_features("a\n1\n", "p.csv", 0); }),
            "p.csv: features for a model of 0 inputs asked for (a model takes >= 1)");
  // What else is wrong, the parser names: a feature that is no number, an empty file.
  EXPECT_EQ(
      test::error_message([] { parse_csv_features("a,b\n1,x\n", "p.csv", 2); }).find("p.csv:2:"),
      0u);
  EXPECT_THROW(parse_csv_features("", "p.csv", 2), Error);
}

TEST(Csv, AFileLargerThanTheMemoryLeftIsAnErrorNamingItNotAnOomKill) {
  // 24 MB of text, on a machine with 128 MiB + 8 MiB left (128 MiB are kept free): refused
  // before it is read, naming the file. Gzipped, it is refused as it decompresses.
  test::TempDir dir;
  std::string text = "a,y\n";
  while (text.size() < 24'000'000) text += "0.25,1\n0.75,0\n";
  test::write_text(dir / "big.csv", text);
  gzFile gz = gzopen((dir / "big.csv.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  ASSERT_EQ(::setenv("DESCENT_TEST_AVAILABLE_MEMORY", "142606336", 1), 0);
  for (const char* name : {"big.csv", "big.csv.gz"}) {
    try {
      load_csv(dir / name);
      ADD_FAILURE() << name << " was read";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(name), std::string::npos) << what;
      EXPECT_NE(what.find("memory"), std::string::npos) << what;
    }
  }
  // With the memory there, both load.
  ASSERT_EQ(::unsetenv("DESCENT_TEST_AVAILABLE_MEMORY"), 0);
  EXPECT_EQ(load_csv(dir / "big.csv").rows(), load_csv(dir / "big.csv.gz").rows());
}

TEST(Csv, NumbersLargerThanTheMemoryLeftAreAnErrorNamingTheFile) {
  // 20 MB of text in memory, whose 5 million rows of 2 numbers take 40 MB as floats, with 32 MiB
  // left beyond the 128 MiB kept free.
  std::string text = "a,y\n";
  text.reserve(20'000'010);
  while (text.size() < 20'000'000) text += "1,0\n1,1\n";
  ASSERT_EQ(::setenv("DESCENT_TEST_AVAILABLE_MEMORY", "167772160", 1), 0);
  try {
    parse_csv(text, "n.csv");
    ADD_FAILURE() << "the numbers were read";
  } catch (const Error& e) {
    EXPECT_STREQ(
        e.what(),
        "n.csv: out of memory for its up to 5000000 rows of 2 numbers (they would leave under "
        "128 MiB free)");
  }
  // Blank lines and short rows count for their bytes, not for a whole row each: a wide header
  // over 200,000 one-number lines is a short row, not a block of 800 MB.
  std::string wide;
  for (int c = 0; c < 1000; ++c) wide += fmt::format("x{},", c);
  wide += "y\n";
  for (int r = 0; r < 200'000; ++r) wide += r % 2 == 0 ? "1\n" : "\n";
  ASSERT_EQ(::setenv("DESCENT_TEST_AVAILABLE_MEMORY", "400000000", 1), 0);
  EXPECT_EQ(error_of(wide, TaskHint::automatic),
            "t.csv:2: expected 1001 fields as in the header, got 1");
  ASSERT_EQ(::unsetenv("DESCENT_TEST_AVAILABLE_MEMORY"), 0);
  EXPECT_EQ(parse_csv(text, "n.csv").rows(), 5'000'000u);
}

}  // namespace
}  // namespace descent
