// The analytic objectives: test functions that know their own minima (ensmallen's habit), to
// watch and test gradient descent on. Each computes in double from the float point.

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/objective.hpp"
#include "descent/spec.hpp"

namespace descent {

double Objective::value(std::span<const float> x) {
  std::vector<float> grad(dimension());
  return value_and_gradient(x, grad);
}

std::vector<std::pair<double, double>> Objective::domain() const {
  return std::vector<std::pair<double, double>>(dimension(), {-2.0, 2.0});
}

namespace {

constexpr double kPi = std::numbers::pi;

// An analytic function of n coordinates: f and its gradient in double.
class Analytic : public Objective {
 public:
  Analytic(std::string name, std::size_t n) : name_(std::move(name)), n_(n) {}
  std::string name() const override { return name_; }
  std::size_t dimension() const override { return n_; }
  double value_and_gradient(std::span<const float> x, std::span<float> grad) override {
    if (x.size() != n_ || grad.size() != n_) {
      throw Error(fmt::format("{}: a point has {} coordinates, got {} (gradient {})", name_, n_,
                              x.size(), grad.size()));
    }
    for (std::size_t i = 0; i < n_; ++i) x_[i] = x[i];
    std::fill(g_.begin(), g_.end(), 0.0);
    const double f = evaluate(x_.data(), g_.data());
    for (std::size_t i = 0; i < n_; ++i) grad[i] = static_cast<float>(g_[i]);
    return f;
  }

 protected:
  // f(x); adds the gradient into g (zeroed).
  virtual double evaluate(const double* x, double* g) const = 0;

 private:
  std::string name_;
  std::size_t n_;
  std::vector<double> x_ = std::vector<double>(n_), g_ = std::vector<double>(n_);
};

using Points = std::vector<std::vector<double>>;
using Box = std::vector<std::pair<double, double>>;

// J(w) = (w - 3)^2: the single-weight example of the notes.
class Parabola final : public Analytic {
 public:
  Parabola() : Analytic("parabola", 1) {}
  Points minimizers() const override { return {{3.0}}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override { return {0.0}; }
  Box domain() const override { return {{-1.0, 7.0}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    g[0] = 2.0 * (x[0] - 3.0);
    return (x[0] - 3.0) * (x[0] - 3.0);
  }
};

// 1/2 sum c_i x_i^2, c_i = scale * condition^(i / (n - 1)): curvatures from scale to
// L = scale * condition (n = 1: the single curvature is L).
class Quadratic final : public Analytic {
 public:
  Quadratic(std::string name, std::size_t n, double condition, double scale)
      : Analytic(std::move(name), n), c_(n) {
    for (std::size_t i = 0; i < n; ++i) {
      const double t = n == 1 ? 1.0 : static_cast<double>(i) / static_cast<double>(n - 1);
      c_[i] = scale * std::pow(condition, t);
    }
  }
  Points minimizers() const override { return {std::vector<double>(dimension(), 0.0)}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override {
    return std::vector<double>(dimension(), 1.0);
  }
  Box domain() const override { return Box(dimension(), {-1.5, 1.5}); }

 protected:
  double evaluate(const double* x, double* g) const override {
    double f = 0.0;
    for (std::size_t i = 0; i < c_.size(); ++i) {
      f += 0.5 * c_[i] * x[i] * x[i];
      g[i] = c_[i] * x[i];
    }
    return f;
  }

 private:
  std::vector<double> c_;
};

class Rosenbrock final : public Analytic {
 public:
  Rosenbrock(std::string name, std::size_t n) : Analytic(std::move(name), n) {}
  Points minimizers() const override { return {std::vector<double>(dimension(), 1.0)}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override {
    std::vector<double> x(dimension());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 2 == 0 ? -1.2 : 1.0;
    return x;
  }
  Box domain() const override {
    Box box(dimension(), {-2.0, 2.0});
    if (box.size() == 2) box[1] = {-1.0, 3.0};
    return box;
  }

 protected:
  double evaluate(const double* x, double* g) const override {
    double f = 0.0;
    for (std::size_t i = 0; i + 1 < dimension(); ++i) {
      const double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
      f += 100.0 * a * a + b * b;
      g[i] += -400.0 * x[i] * a - 2.0 * b;
      g[i + 1] += 200.0 * a;
    }
    return f;
  }
};

// w^4 - 3 w^2 + w; its stationary points solve 4 w^3 - 6 w + 1 = 0.
class DoubleWell final : public Analytic {
 public:
  DoubleWell() : Analytic("double_well", 1) {}
  Points minimizers() const override { return {{root(-1.3)}}; }
  Points local_minimizers() const override { return {{root(1.13)}}; }
  std::optional<double> minimum() const override {
    const double w = root(-1.3);
    return f(w);
  }
  std::vector<double> initial_point() const override { return {2.0}; }
  Box domain() const override { return {{-2.2, 2.2}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    g[0] = 4.0 * x[0] * x[0] * x[0] - 6.0 * x[0] + 1.0;
    return f(x[0]);
  }

 private:
  static double f(double w) { return w * w * w * w - 3.0 * w * w + w; }
  // Newton's method on f' from near a root.
  static double root(double w) {
    for (int i = 0; i < 50; ++i) w -= (4.0 * w * w * w - 6.0 * w + 1.0) / (12.0 * w * w - 6.0);
    return w;
  }
};

class Himmelblau final : public Analytic {
 public:
  Himmelblau() : Analytic("himmelblau", 2) {}
  Points minimizers() const override {
    // The four zeros, refined by Newton's method on the gradient from their known digits.
    Points points = {
        {3.0, 2.0}, {-2.805118, 3.131312}, {-3.779310, -3.283186}, {3.584428, -1.848126}};
    for (auto& p : points) refine(p);
    return points;
  }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override { return {0.0, 0.0}; }
  Box domain() const override { return {{-5.0, 5.0}, {-5.0, 5.0}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    const double a = x[0] * x[0] + x[1] - 11.0, b = x[0] + x[1] * x[1] - 7.0;
    g[0] = 4.0 * a * x[0] + 2.0 * b;
    g[1] = 2.0 * a + 4.0 * b * x[1];
    return a * a + b * b;
  }

 private:
  // Newton on the residuals r = (a, b) = 0, which hold at every global minimum.
  static void refine(std::vector<double>& p) {
    for (int i = 0; i < 20; ++i) {
      const double x = p[0], y = p[1];
      const double a = x * x + y - 11.0, b = x + y * y - 7.0;
      const double j00 = 2.0 * x, j01 = 1.0, j10 = 1.0, j11 = 2.0 * y;
      const double det = j00 * j11 - j01 * j10;
      p[0] -= (j11 * a - j01 * b) / det;
      p[1] -= (-j10 * a + j00 * b) / det;
    }
  }
};

// x^2 - y^2: a saddle at the origin, unbounded below.
class Saddle final : public Analytic {
 public:
  Saddle() : Analytic("saddle", 2) {}
  std::vector<double> initial_point() const override { return {1.5, 0.001}; }
  Box domain() const override { return {{-2.0, 2.0}, {-2.0, 2.0}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    g[0] = 2.0 * x[0];
    g[1] = -2.0 * x[1];
    return x[0] * x[0] - x[1] * x[1];
  }
};

class Beale final : public Analytic {
 public:
  Beale() : Analytic("beale", 2) {}
  Points minimizers() const override { return {{3.0, 0.5}}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override { return {1.0, 1.0}; }
  Box domain() const override { return {{-4.5, 4.5}, {-4.5, 4.5}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    const double u = x[0], v = x[1];
    const double a = 1.5 - u + u * v, b = 2.25 - u + u * v * v, c = 2.625 - u + u * v * v * v;
    g[0] = 2.0 * a * (v - 1.0) + 2.0 * b * (v * v - 1.0) + 2.0 * c * (v * v * v - 1.0);
    g[1] = 2.0 * a * u + 4.0 * b * u * v + 6.0 * c * u * v * v;
    return a * a + b * b + c * c;
  }
};

class Booth final : public Analytic {
 public:
  Booth() : Analytic("booth", 2) {}
  Points minimizers() const override { return {{1.0, 3.0}}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override { return {-5.0, -5.0}; }
  Box domain() const override { return {{-10.0, 10.0}, {-10.0, 10.0}}; }

 protected:
  double evaluate(const double* x, double* g) const override {
    const double a = x[0] + 2.0 * x[1] - 7.0, b = 2.0 * x[0] + x[1] - 5.0;
    g[0] = 2.0 * a + 4.0 * b;
    g[1] = 4.0 * a + 2.0 * b;
    return a * a + b * b;
  }
};

class Rastrigin final : public Analytic {
 public:
  Rastrigin(std::string name, std::size_t n) : Analytic(std::move(name), n) {}
  Points minimizers() const override { return {std::vector<double>(dimension(), 0.0)}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override {
    std::vector<double> x(dimension());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 2 == 0 ? 2.6 : -1.4;
    return x;
  }
  Box domain() const override { return Box(dimension(), {-5.12, 5.12}); }

 protected:
  double evaluate(const double* x, double* g) const override {
    double f = 10.0 * static_cast<double>(dimension());
    for (std::size_t i = 0; i < dimension(); ++i) {
      f += x[i] * x[i] - 10.0 * std::cos(2.0 * kPi * x[i]);
      g[i] = 2.0 * x[i] + 20.0 * kPi * std::sin(2.0 * kPi * x[i]);
    }
    return f;
  }
};

// -20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos 2 pi x_i) + e + 20.
class Ackley final : public Analytic {
 public:
  Ackley(std::string name, std::size_t n) : Analytic(std::move(name), n) {}
  Points minimizers() const override { return {std::vector<double>(dimension(), 0.0)}; }
  std::optional<double> minimum() const override { return 0.0; }
  std::vector<double> initial_point() const override {
    std::vector<double> x(dimension());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 2 == 0 ? 2.3 : -1.8;
    return x;
  }
  Box domain() const override { return Box(dimension(), {-5.0, 5.0}); }

 protected:
  double evaluate(const double* x, double* g) const override {
    const double n = static_cast<double>(dimension());
    double squares = 0.0, cosines = 0.0;
    for (std::size_t i = 0; i < dimension(); ++i) {
      squares += x[i] * x[i];
      cosines += std::cos(2.0 * kPi * x[i]);
    }
    const double r = std::sqrt(squares / n);
    const double e1 = std::exp(-0.2 * r), e2 = std::exp(cosines / n);
    for (std::size_t i = 0; i < dimension(); ++i) {
      // The first term's gradient 4 e1 x_i / (n r) tends to 0 with x at the origin only along
      // rays; there the function has a kink and 0 is the subgradient taken.
      const double radial = r > 0.0 ? 4.0 * e1 * x[i] / (n * r) : 0.0;
      g[i] = radial + 2.0 * kPi / n * std::sin(2.0 * kPi * x[i]) * e2;
    }
    return -20.0 * e1 - e2 + std::numbers::e + 20.0;
  }
};

std::size_t dimension_key(SpecReader& reader, long long fallback, long long minimum) {
  return static_cast<std::size_t>(reader.integer("dim", fallback, minimum));
}

}  // namespace

std::vector<std::string> objective_names() {
  return {"parabola", "quadratic", "rosenbrock", "double_well", "himmelblau",
          "saddle",   "beale",     "booth",      "rastrigin",   "ackley"};
}

std::unique_ptr<Objective> make_objective(std::string_view text) {
  const Spec spec = Spec::parse(text, "function");
  SpecReader reader(spec, "function");
  const std::string& name = spec.name;
  std::unique_ptr<Objective> f;
  constexpr long long kMaxDim = 1 << 20;
  auto dim = [&](long long fallback, long long minimum) {
    const std::size_t n = dimension_key(reader, fallback, minimum);
    if (n > static_cast<std::size_t>(kMaxDim)) {
      reader.invalid("dim", fmt::format("at most {} coordinates", kMaxDim));
    }
    return n;
  };
  if (name == "parabola") {
    f = std::make_unique<Parabola>();
  } else if (name == "quadratic") {
    const std::size_t n = dim(2, 1);
    const double condition = reader.number("condition", 10.0);
    if (!(condition >= 1.0 && std::isfinite(condition)))
      reader.invalid("condition", "the condition number must be a finite number >= 1");
    const double scale = reader.number("scale", 1.0);
    if (!(scale > 0.0 && std::isfinite(scale)))
      reader.invalid("scale", "the smallest curvature must be a finite number > 0");
    f = std::make_unique<Quadratic>(reader.canonical(), n, condition, scale);
  } else if (name == "rosenbrock") {
    const std::size_t n = dim(2, 2);
    f = std::make_unique<Rosenbrock>(reader.canonical(), n);
  } else if (name == "double_well") {
    f = std::make_unique<DoubleWell>();
  } else if (name == "himmelblau") {
    f = std::make_unique<Himmelblau>();
  } else if (name == "saddle") {
    f = std::make_unique<Saddle>();
  } else if (name == "beale") {
    f = std::make_unique<Beale>();
  } else if (name == "booth") {
    f = std::make_unique<Booth>();
  } else if (name == "rastrigin") {
    const std::size_t n = dim(2, 1);
    f = std::make_unique<Rastrigin>(reader.canonical(), n);
  } else if (name == "ackley") {
    const std::size_t n = dim(2, 1);
    f = std::make_unique<Ackley>(reader.canonical(), n);
  } else {
    std::string known;
    for (const std::string& n : objective_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(fmt::format("unknown function \"{}\" (known: {})", name, known));
  }
  reader.finish();
  return f;
}

}  // namespace descent
