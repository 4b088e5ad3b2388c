// The descent CLI as a user runs it: exit status, stdout, stderr and the files it writes.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "descent/io.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

struct CliRun {
  int status = -1;
  std::string out;
  std::string err;
};

CliRun run_cli(const std::string& args, const test::TempDir& dir) {
  const auto err_file = dir / "stderr.txt";
  const std::string command =
      std::string(DESCENT_CLI) + " " + args + " 2>" + err_file.string() + " </dev/null";
  CliRun r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = test::read_text(err_file);
  std::filesystem::remove(err_file);
  return r;
}

TEST(Cli, TrainPrintsOneJsonObjectWithTheResult) {
  test::TempDir dir;
  const CliRun r =
      run_cli("train --data iris --epochs 5 --hidden 8 --lr 0.2 --batch 16 --json", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"stop_reason", "epochs", "steps", "final_train_loss", "final_val_loss",
                          "val_accuracy", "samples_per_second", "seconds", "threads", "isa"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["stop_reason"], "max_epochs");
  EXPECT_EQ(j["epochs"], 5);
  EXPECT_EQ(j["steps"], 5 * 8);  // 120 training rows in batches of 16
  EXPECT_EQ(j["optimizer"], "sgd:lr=0.2");
  EXPECT_GT(j["val_accuracy"].get<double>(), 0.5);
  // Progress went to stderr, one line per epoch.
  EXPECT_NE(r.err.find("epoch 5/5"), std::string::npos) << r.err;
}

TEST(Cli, RegressionJsonHasNoAccuracy) {
  test::TempDir dir;
  const CliRun r = run_cli("train --data diabetes --epochs 2 --lr 0.001 --json --quiet", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "regression");
  EXPECT_FALSE(j.contains("val_accuracy"));
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(Cli, WritesHistoryAndAModelThatLoadsBack) {
  test::TempDir dir;
  const auto history = dir / "h.csv";
  const auto model = dir / "m.model";
  const CliRun r =
      run_cli("train --data wine --epochs 3 --hidden 16,8 --activation tanh --history " +
                  history.string() + " --save " + model.string(),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("trained wine"), std::string::npos) << r.out;
  const std::string csv = test::read_text(history);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  const Network net = load_network(model);
  EXPECT_EQ(net.inputs(), 13u);
  EXPECT_EQ(net.layers().size(), 3u);
  EXPECT_EQ(net.layers()[0].activation, Activation::tanh);
  EXPECT_EQ(net.standardization().features(), 13u);
}

struct BadCase {
  const char* args;
  const char* message;  // a fragment stderr must contain
};

TEST(Cli, BadOptionsExitTwoWithAMessageAndWriteNothing) {
  const BadCase cases[] = {
      {"train --data iris --lr 0.1 --optimizer sgd:lr=0.2", "give the learning rate once"},
      {"train --data iris --optimizer adamx", "unknown optimizer \"adamx\""},
      {"train --data iris --optimizer sgd:lr=-1", "lr=-1 is invalid"},
      {"train --data iris --optimizer sgd:beta=1", "unknown key \"beta\""},
      {"train --data iris --lr abc", "--lr abc is not a finite number"},
      {"train --data iris --batch 0", "--batch 0 is invalid"},
      {"train --data iris --batch -3", "--batch -3 is invalid: it must not be negative"},
      {"train --data iris --epochs 0", "--epochs 0 is invalid"},
      {"train --data iris --threads -1", "--threads -1 is invalid: it must not be negative"},
      {"train --data iris --threads 5000", "--threads 5000 is invalid"},
      {"train --data iris --hidden 8,x", "--hidden 8,x: \"x\" is not a layer size"},
      {"train --data iris --hidden 1,4611686018427387904", "is not a layer size"},
      {"train --data iris --hidden 100000,100000", "parameters, the most descent supports"},
      {"train --data iris --activation swish", "unknown activation \"swish\""},
      {"train --data iris --loss hinge", "unknown loss \"hinge\""},
      {"train --data iris --val-fraction 1", "--val-fraction 1 is invalid"},
      {"train --data nosuchset", "unknown dataset \"nosuchset\""},
      {"train --data /no/such/file.csv", "does not exist"},
      {"train --data iris --loss mse", "mse needs numeric targets"},
      {"train --data iris --save /no/such/dir/m.model",
       "directory \"/no/such/dir\" does not exist"},
      {"train --data iris --history /no/such/dir/h.csv", "does not exist"},
      {"train --data iris --bogus", "--bogus"},
      {"", "subcommand"},
  };
  for (const BadCase& c : cases) {
    test::TempDir dir;
    // Every run is asked to write its outputs into dir, so "nothing written" can fail.
    std::string args = c.args;
    if (args.rfind("train", 0) == 0) {
      if (args.find("--save") == std::string::npos) args += " --save " + (dir / "m.model").string();
      if (args.find("--history") == std::string::npos)
        args += " --history " + (dir / "h.csv").string();
    }
    const CliRun r = run_cli(args, dir);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << c.args;
  }
}

TEST(Cli, SchedulesAndInitFilesWork) {
  test::TempDir dir;
  const auto init = dir / "init.bin";
  Network net = Network::mlp(4, {8}, 3, Activation::tanh);
  net.initialize(Init::pytorch, 5);
  save_parameters(init, net);
  const CliRun r =
      run_cli("train --data iris --hidden 8 --activation tanh --init " + init.string() +
                  " --optimizer adam --schedule step:step_size=1," +
                  "gamma=0.5 --epochs 3 --history " + (dir / "h.csv").string() + " --json --quiet",
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["schedule"], "step:step_size=1,gamma=0.5");
  const std::string csv = test::read_text(dir / "h.csv");
  EXPECT_NE(csv.find(",0.001,"), std::string::npos) << csv;    // epoch 1: adam's 1e-3
  EXPECT_NE(csv.find(",0.0005,"), std::string::npos) << csv;   // epoch 2: halved
  EXPECT_NE(csv.find(",0.00025,"), std::string::npos) << csv;  // epoch 3
  const CliRun wrong = run_cli("train --data iris --hidden 9 --init " + init.string(), dir);
  EXPECT_EQ(wrong.status, 2);
  EXPECT_NE(wrong.err.find("parameters need"), std::string::npos) << wrong.err;
  const CliRun bad = run_cli("train --data iris --schedule cosine", dir);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("T_max is invalid: is required"), std::string::npos) << bad.err;
  const CliRun per = run_cli("train --data iris --schedule-per batch", dir);
  EXPECT_EQ(per.status, 2);
}

TEST(Cli, BadCsvNamesFileLineAndColumn) {
  test::TempDir dir;
  test::write_text(dir / "bad.csv", "a,b,y\n1,2,0\n3,oops,1\n");
  const CliRun r = run_cli("train --data " + (dir / "bad.csv").string(), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad.csv:3:3: column \"b\": expected a number, got \"oops\""),
            std::string::npos)
      << r.err;
}

TEST(Cli, BadIsaEnvironmentIsAnErrorNotACrash) {
  test::TempDir dir;
  const CliRun r = run_cli("isa", dir);
  ASSERT_EQ(r.status, 0);
  const CliRun bad = run_cli("train --data iris --epochs 1", dir);  // sanity: runs
  EXPECT_EQ(bad.status, 0) << bad.err;
  ::setenv("DESCENT_ISA", "avx9000", 1);
  const CliRun forced = run_cli("train --data iris --epochs 1", dir);
  ::unsetenv("DESCENT_ISA");
  EXPECT_EQ(forced.status, 2);
  EXPECT_NE(forced.err.find("DESCENT_ISA=\"avx9000\""), std::string::npos) << forced.err;
}

TEST(Cli, HelpExitsZero) {
  test::TempDir dir;
  const CliRun r = run_cli("train --help", dir);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--optimizer"), std::string::npos);
}

}  // namespace
}  // namespace descent
