#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>

#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/rng.hpp"
#include "descent/standardization.hpp"

namespace descent {
namespace {

struct Expected {
  const char* name;
  std::size_t rows, features;
  Task task;
  std::size_t classes;
};

TEST(BundledData, EverySetLoadsWithItsDocumentedShape) {
  const Expected sets[] = {
      {"digits", 1797, 64, Task::classification, 10},
      {"iris", 150, 4, Task::classification, 3},
      {"wine", 178, 13, Task::classification, 3},
      {"breast_cancer", 569, 30, Task::classification, 2},
      {"penguins", 342, 4, Task::classification, 3},
      {"diabetes", 442, 10, Task::regression, 0},
      {"concrete", 1030, 8, Task::regression, 0},
      {"letter_recognition", 20000, 16, Task::classification, 26},
  };
  const auto names = bundled_datasets();
  for (const Expected& e : sets) {
    SCOPED_TRACE(e.name);
    EXPECT_NE(std::find(names.begin(), names.end(), e.name), names.end());
    const Dataset d = load_dataset(e.name);
    EXPECT_EQ(d.name, e.name);
    EXPECT_EQ(d.rows(), e.rows);
    EXPECT_EQ(d.feature_count(), e.features);
    EXPECT_EQ(d.task, e.task);
    EXPECT_EQ(d.classes, e.classes);
  }
}

TEST(BundledData, UnknownNamesListTheBundledOnes) {
  try {
    load_dataset("digitz");
    FAIL();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown dataset \"digitz\""), std::string::npos);
    EXPECT_NE(message.find("digits"), std::string::npos);
  }
  EXPECT_THROW(load_dataset("no/such/file.csv"), Error);
}

TEST(Synthetic, IsMnistShapedSeededAndReproducible) {
  const Dataset a = make_synthetic({.rows = 500, .features = 784, .classes = 10, .seed = 4});
  EXPECT_EQ(a.rows(), 500u);
  EXPECT_EQ(a.feature_count(), 784u);
  EXPECT_EQ(a.task, Task::classification);
  EXPECT_EQ(a.classes, 10u);
  ASSERT_EQ(a.labels.size(), 500u);
  std::set<std::uint32_t> seen(a.labels.begin(), a.labels.end());
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_LT(*seen.rbegin(), 10u);
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < a.features.size(); ++i) {
    const float v = a.features.data()[i];
    EXPECT_TRUE(v >= 0.0f && v <= 1.0f) << v;
    zeros += v == 0.0f ? 1 : 0;
  }
  EXPECT_GT(zeros, a.features.size() / 4);  // sparse, like pixels
  const Dataset b = load_dataset("synthetic:rows=500,features=784,classes=10,seed=4");
  EXPECT_EQ(b.name, a.name);
  EXPECT_EQ(b.labels, a.labels);
  EXPECT_TRUE(
      std::equal(a.features.data(), a.features.data() + a.features.size(), b.features.data()));
  const Dataset c = make_synthetic("synthetic:rows=500,features=784,classes=10,seed=5");
  EXPECT_NE(c.labels, a.labels);
  const Dataset defaults = make_synthetic("synthetic:rows=3");
  EXPECT_EQ(defaults.feature_count(), 784u);
  EXPECT_EQ(defaults.classes, 10u);
}

TEST(Synthetic, AnotherDrawIsOtherRowsOfTheSameClasses) {
  const char* spec = "synthetic:rows=3000,features=60,classes=3,seed=4";
  const Dataset a = load_dataset(spec);
  // draw=0 is the default: the same name and rows.
  const Dataset zero = load_dataset(std::string(spec) + ",draw=0");
  EXPECT_EQ(zero.name, a.name);
  EXPECT_EQ(zero.labels, a.labels);
  const Dataset b = load_dataset(std::string(spec) + ",draw=1");
  EXPECT_EQ(b.name, std::string(spec) + ",draw=1");
  EXPECT_NE(b.labels, a.labels);
  const Dataset other = load_dataset("synthetic:rows=3000,features=60,classes=3,seed=5");
  // Per class, the mean row: close between the draws (the same prototypes), far from another
  // seed's classes.
  auto class_means = [](const Dataset& d) {
    std::vector<double> mean(d.classes * d.feature_count(), 0.0);
    std::vector<double> count(d.classes, 0.0);
    for (std::size_t i = 0; i < d.rows(); ++i) {
      count[d.labels[i]] += 1.0;
      for (std::size_t j = 0; j < d.feature_count(); ++j)
        mean[d.labels[i] * d.feature_count() + j] += d.features(i, j);
    }
    for (std::size_t k = 0; k < mean.size(); ++k) mean[k] /= count[k / d.feature_count()];
    return mean;
  };
  auto distance = [](const std::vector<double>& x, const std::vector<double>& y) {
    double sum = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) sum += (x[k] - y[k]) * (x[k] - y[k]);
    return std::sqrt(sum);
  };
  const std::vector<double> ma = class_means(a), mb = class_means(b), mo = class_means(other);
  EXPECT_LT(distance(ma, mb), 0.2 * distance(ma, mo))
      << distance(ma, mb) << " against " << distance(ma, mo);
}

TEST(Synthetic, BadSpecsNameTheKeyAndValue) {
  const std::pair<const char*, const char*> cases[] = {
      {"synthetic:rows=0", "rows=0 is invalid"},
      {"synthetic:rows=2.5", "rows=2.5 is invalid"},
      {"synthetic:features=0", "features=0 is invalid"},
      {"synthetic:classes=1", "classes=1 is invalid"},
      {"synthetic:classes=100000", "classes=100000 is invalid"},
      {"synthetic:rows=3e9", "rows=3000000000 is invalid"},
      {"synthetic:rows=1e9,features=100", "too large"},
      {"synthetic:seed=-1", "seed=-1 is invalid"},
      {"synthetic:draw=-1", "draw=-1 is invalid"},
      {"synthetic:rows=abc", "rows=abc is not a number"},
      {"synthetic:cols=3", "unknown key \"cols\""},
      {"synthetic:rows=3,rows=4", "rows"},
  };
  for (const auto& [spec, message] : cases) {
    try {
      load_dataset(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << spec << ": " << e.what();
    }
  }
  EXPECT_THROW(load_dataset("synthetic:rows=10", TaskHint::regression), Error);
  EXPECT_THROW(make_synthetic("digits"), Error);
}

// More values than the memory left is refused before any is made, naming the spec (not the
// bare "out of memory" of the first block); with the memory there, the same spec is made.
TEST(Synthetic, MoreThanTheMemoryLeftIsAnErrorNamingTheSpec) {
  const char* spec = "synthetic:rows=20000,features=784";                   // 62.8 MB of values
  ASSERT_EQ(::setenv("DESCENT_TEST_AVAILABLE_MEMORY", "142606336", 1), 0);  // 128 + 8 MiB
  std::string what = "no error";
  try {
    make_synthetic(spec);
  } catch (const Error& e) {
    what = e.what();
  }
  ASSERT_EQ(::unsetenv("DESCENT_TEST_AVAILABLE_MEMORY"), 0);
  EXPECT_NE(what.find("synthetic:rows=20000,features=784,"), std::string::npos) << what;
  EXPECT_NE(what.find("out of memory for its 20000 x 784 values"), std::string::npos) << what;
  EXPECT_EQ(make_synthetic(spec).rows(), 20000u);
}

TEST(Split, IsSeededDisjointAndComplete) {
  const Dataset d = load_dataset("iris");
  const DataSplit a = split_train_validation(d, 0.2, 1);
  const DataSplit b = split_train_validation(d, 0.2, 1);
  const DataSplit c = split_train_validation(d, 0.2, 2);
  EXPECT_EQ(a.train.rows(), 120u);
  EXPECT_EQ(a.validation.rows(), 30u);
  EXPECT_TRUE(std::equal(a.train.features.span().begin(), a.train.features.span().end(),
                         b.train.features.span().begin()));
  EXPECT_FALSE(std::equal(a.train.features.span().begin(), a.train.features.span().end(),
                          c.train.features.span().begin()));
  // Every row lands in exactly one part: compare the multiset of row sums.
  std::multiset<float> all, parts;
  for (std::size_t i = 0; i < d.rows(); ++i) all.insert(d.features(i, 0) * 1000 + d.features(i, 2));
  for (const Dataset* p : {&a.train, &a.validation})
    for (std::size_t i = 0; i < p->rows(); ++i)
      parts.insert(p->features(i, 0) * 1000 + p->features(i, 2));
  EXPECT_EQ(all, parts);
  EXPECT_EQ(validation_rows(10, 0.01), 1u);
  EXPECT_EQ(validation_rows(10, 0.0), 0u);
  EXPECT_THROW(split_train_validation(d, 1.0, 1), Error);
  EXPECT_THROW(split_train_validation(d, -0.1, 1), Error);
}

TEST(Standardization, FitsMeanAndStdAndLeavesConstantsFinite) {
  Matrix x(4, 2);
  for (std::size_t i = 0; i < 4; ++i) {
    x(i, 0) = static_cast<float>(i);  // mean 1.5, population std sqrt(1.25)
    x(i, 1) = 7.0f;                   // constant
  }
  const Standardization s = Standardization::fit(x.view());
  EXPECT_FLOAT_EQ(s.mean[0], 1.5f);
  EXPECT_FLOAT_EQ(s.stddev[0], static_cast<float>(std::sqrt(1.25)));
  EXPECT_FLOAT_EQ(s.stddev[1], 1.0f);
  s.apply(x.view());
  EXPECT_FLOAT_EQ(x(0, 0), static_cast<float>(-1.5 / std::sqrt(1.25)));
  EXPECT_FLOAT_EQ(x(2, 1), 0.0f);
  Matrix wrong(2, 3);
  EXPECT_THROW(s.apply(wrong.view()), Error);
}

// fit() sums row by row; each column must still get the bits of a plain loop down it (two
// passes in double), on a view with a stride wider than its rows.
TEST(Standardization, FitsTheBitsOfASumDownEachColumn) {
  Rng rng(5);
  Matrix x(1001, 37);
  for (std::size_t i = 0; i < x.rows(); ++i)
    for (std::size_t j = 0; j < x.cols(); ++j)
      x(i, j) = rng.uniform(-3.0f, 3.0f) * static_cast<float>(j + 1) + static_cast<float>(j);
  const ConstMatrixView view{x.view().data, x.rows(), 29, x.cols()};
  const Standardization s = Standardization::fit(view);
  ASSERT_EQ(s.mean.size(), 29u);
  for (std::size_t j = 0; j < view.cols; ++j) {
    double sum = 0.0;
    for (std::size_t i = 0; i < view.rows; ++i) sum += view(i, j);
    const double mean = sum / static_cast<double>(view.rows);
    double squares = 0.0;
    for (std::size_t i = 0; i < view.rows; ++i) {
      const double d = view(i, j) - mean;
      squares += d * d;
    }
    EXPECT_EQ(s.mean[j], static_cast<float>(mean)) << "feature " << j;
    EXPECT_EQ(s.stddev[j], static_cast<float>(std::sqrt(squares / static_cast<double>(view.rows))))
        << "feature " << j;
  }
}

}  // namespace
}  // namespace descent
