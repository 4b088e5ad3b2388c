// The descent CLI as a user runs it: exit status, stdout, stderr and the files it writes.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "descent/distributed.hpp"
#include "descent/io.hpp"
#include "descent/parallel.hpp"
#include "test_util.hpp"

namespace descent {
namespace {

struct CliRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `descent args` (or, with prefix_cli false, the command line as given).
CliRun run_cli(const std::string& args, const test::TempDir& dir, bool prefix_cli = true) {
  const auto err_file = dir / "stderr.txt";
  const std::string command = (prefix_cli ? std::string(DESCENT_CLI) + " " : std::string()) + args +
                              " 2>" + err_file.string() + " </dev/null";
  CliRun r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : -1;
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
  EXPECT_EQ(j["final_epoch"], 5);
  // A spec with spaces around its parts is echoed without them.
  const CliRun spaced = run_cli(
      "train --data iris --epochs 1 --hidden 4 --json --optimizer ' sgd: momentum = 0.9 '", dir);
  ASSERT_EQ(spaced.status, 0) << spaced.err;
  EXPECT_EQ(nlohmann::json::parse(spaced.out)["optimizer"], "sgd:momentum=0.9");
}

TEST(Cli, AfterEarlyStoppingTheFinalFiguresAreTheKeptEpochs) {
  test::TempDir dir;
  // No epoch improves by 1, so the second stops the run and epoch 1's weights are kept.
  const std::string history = (dir / "h.csv").string();
  const CliRun r = run_cli(
      "train --data iris --epochs 10 --early-stopping 1 --min-delta 1 "
      "--json --history " +
          history,
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stop_reason"], "early_stopped");
  EXPECT_EQ(j["epochs"], 2);
  EXPECT_EQ(j["best_epoch"], 1);
  EXPECT_EQ(j["final_epoch"], 1);
  // The history's first row holds epoch 1's losses; the last row (epoch 2) differs.
  const std::string csv = test::read_text(history);
  const std::size_t row1 = csv.find('\n') + 1;
  const std::string epoch1 = csv.substr(row1, csv.find('\n', row1) - row1);
  const double train1 = std::stod(epoch1.substr(epoch1.find(',', epoch1.find(',') + 1) + 1));
  EXPECT_NEAR(j["final_train_loss"].get<double>(), train1, 1e-5 * train1) << csv;
  const CliRun text =
      run_cli("train --data iris --epochs 10 --early-stopping 1 --min-delta 1", dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("final      (epoch 1, kept) train_loss"), std::string::npos) << text.out;
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

// Each case, with OUT replaced by a directory inside a fresh temporary one, must exit 2 with
// its message and leave that temporary directory empty.
template <std::size_t N>
void expect_refused_before_writing(const BadCase (&cases)[N]) {
  for (const BadCase& c : cases) {
    test::TempDir dir;
    std::string args = c.args;
    if (const auto at = args.find("OUT"); at != std::string::npos)
      args.replace(at, 3, (dir / "out").string());
    const CliRun r = run_cli(args, dir);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << c.args;
  }
}

TEST(Cli, BadOptionsExitTwoWithAMessageAndWriteNothing) {
  const BadCase cases[] = {
      {"train --data iris --lr 0.1 --optimizer sgd:lr=0.2", "give the learning rate once"},
      {"train --data iris --optimizer adamx", "unknown optimizer \"adamx\""},
      {"train --data iris --optimizer sgd:lr=-1", "lr=-1 is invalid"},
      {"train --data iris --optimizer sgd:beta=1", "unknown key \"beta\""},
      {"train --data iris --lr abc", "--lr \"abc\" is not a number"},
      {"train --data iris --lr 1e400", "--lr 1e400 is not a finite number"},
      {"train --data iris --lr 1e-310", "--lr 1e-310 is invalid: it is too close to 0"},
      {"train --data iris --lr \" 0.1\"", "--lr \" 0.1\" is not a number"},
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
      {"train --data diabetes --loss cross_entropy",
       "cross_entropy needs class labels, but \"diabetes\" was read as a regression set"},
      {"train --data diabetes --loss bce_with_logits", "bce_with_logits needs targets in [0, 1]"},
      {"train --data iris --target-loss -1",
       "--target-loss -1 is invalid: a loss is never below 0, so the run could never reach it"},
      {"train --data iris --threads -0",
       "--threads -0 is invalid: a count is written without a sign"},
      {"train --data iris --save /no/such/dir/m.model",
       "directory \"/no/such/dir\" does not exist"},
      {"train --data iris --history /no/such/dir/h.csv", "does not exist"},
      {"train --data iris --optimizer adagrad:lr_decay=-1", "lr_decay=-1 is invalid"},
      {"train --data iris --optimizer rmsprop:alpha=2", "alpha=2 is invalid"},
      {"train --data iris --optimizer adam:beta2=1", "beta2=1 is invalid"},
      {"train --data iris --optimizer adamw:eps=-1", "eps=-1 is invalid"},
      {"train --data iris --optimizer nadam:momentum_decay=-1", "momentum_decay=-1 is invalid"},
      {"train --data iris --optimizer radam:weight_decay=-1", "weight_decay=-1 is invalid"},
      {"train --data iris --optimizer adamax:beta1=-0.5", "beta1=-0.5 is invalid"},
      {"train --data iris --optimizer adadelta:rho=2", "rho=2 is invalid"},
      {"train --data iris --optimizer sgd:nesterov=true", "nesterov needs a momentum > 0"},
      {"train --data iris --schedule step:step_size=0", "step_size=0 is invalid"},
      {"train --data iris --schedule plateau:factor=2", "factor=2 is invalid"},
      {"train --data iris --clip-norm -1", "--clip-norm -1 is invalid"},
      {"train --data iris --clip-value x", "--clip-value \"x\" is not a number"},
      {"train --data iris --max-steps 0", "--max-steps 0 is invalid"},
      {"train --data iris --target-accuracy 2", "--target-accuracy 2 is invalid"},
      {"train --data iris --early-stopping 3 --val-fraction 0",
       "--early-stopping watches the validation loss: use --val-fraction > 0"},
      {"train --data iris --target-accuracy 0.9 --val-fraction 0",
       "--target-accuracy needs validation data"},
      {"train --data concrete --target-accuracy 0.9",
       "--target-accuracy needs class labels, and \"concrete\" is a regression set"},
      {"train --data iris --checkpoint-every 0", "--checkpoint-every 0 is invalid"},
      {"train --data iris --schedule step:step_size=2,gamma=-1", "gamma=-1 is invalid"},
      {"train --data iris --resume /no/such/checkpoint", "the checkpoint file does not exist"},
      {"train --data iris --checkpoint /no/such/dir/ck",
       "directory \"/no/such/dir\" does not exist"},
      {"train --data iris --bogus", "--bogus"},
      {"train --data synthetic:rows=0", "rows=0 is invalid"},
      {"train --data synthetic:classes=1", "classes=1 is invalid"},
      {"train --data synthetic:rows=1e9,features=1e6", "too large"},
      {"train --data synthetic:colums=3", "unknown key \"colums\""},
      {"train --data synthetic:rows=100 --task regression", "not regression"},
      {"train --data iris --shard-rows 0", "--shard-rows 0 is invalid"},
      {"train --data iris --epochs -abc", "--epochs -abc is not a whole number"},
      {"train --data iris --epochs -3", "--epochs -3 is invalid: it must not be negative"},
      {"train --data iris --task regression --target-accuracy 0.5",
       "\"iris\" is read as a regression set (--task regression): use --target-loss"},
      {"lr-find --data iris --val-fraction 0.99 --no-plots", "needs at least 2 classes"},
      {"train --data iris --distributed allreduce", "--distributed allreduce is invalid"},
      {"", "subcommand"},
      {"bogus --data iris", "unknown subcommand \"bogus\": use one of train, predict"},
      // An empty value is a mistake, not the option left out (which would train without it).
      {"train --data iris --save ''", "train --save: the value is empty"},
      {"train --data iris --lr ''", "train --lr: the value is empty"},
      {"train --data iris --hidden ''", "train --hidden: the value is empty"},
      {"train --data iris --resume ''", "train --resume: the value is empty"},
      {"predict --model m --data iris --out ''", "predict --out: the value is empty"},
      // CLI11 alone would take the next argument as the value (a model saved as "--quiet").
      {"train --data iris --save= --quiet", "train --save: the value is empty"},
      {"train --data iris --quiet --checkpoint= --json", "train --checkpoint: the value is empty"},
      {"train --data iris --optimizer sgd:", "nothing after the colon"},
      // 0 would turn off what the option asks for: leaving it out does that.
      {"train --data iris --clip-norm 0", "--clip-norm 0 is invalid: it must be > 0"},
      {"train --data iris --clip-value 0", "--clip-value 0 is invalid: it must be > 0"},
      {"train --data iris --time-budget 0", "--time-budget 0 is invalid: it must be > 0"},
      {"train --data iris --clip-norm 1e-50", "--clip-norm 1e-50 is invalid: it is below the"},
      {"train --data iris --clip-value 1e-40", "--clip-value 1e-40 is invalid: it is below the"},
      {"train --data iris --early-stopping 0", "--early-stopping 0 is invalid"},
      {"train --data iris --divergence-factor 0.5", "--divergence-factor 0.5 is invalid"},
      // Rates that float arithmetic cannot carry.
      {"train --data iris --lr 1e39", "too large for the 32-bit floats"},
      {"train --data iris --lr 1e-46", "0 as a 32-bit float"},
      // The same limits for the rates a schedule reaches.
      {"train --data iris --schedule onecycle:total_steps=10,max_lr=1e39",
       "max_lr=1e39 is invalid: too large for the 32-bit floats"},
      {"train --data iris --schedule onecycle:total_steps=10,max_lr=1e-50",
       "max_lr=1e-50 is invalid: so small that it is 0 as a 32-bit float"},
      {"train --data iris --schedule cosine:T_max=10,eta_min=1e39", "eta_min=1e39 is invalid"},
      {"train --data iris --schedule plateau:min_lr=1e39", "min_lr=1e39 is invalid"},
      {"train --data iris --epochs 18446744073709551616",
       "--epochs 18446744073709551616 is "
       "invalid: it is too large"},
      {"train --data iris --resume /dev/null",
       "the checkpoint file is not a regular file (a directory, a device or a pipe)"},
      {"train --data iris --checkpoint /dev/null", "--checkpoint /dev/null: not a regular file"},
      {"train --data iris --save /dev/null/m.model", "\"/dev/null\" is a file, not a directory"},
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

// --distributed outside mpirun is a group of one rank: the single process's model, byte for
// byte (the runs under mpirun are the mpi.* tests). Without MPI in the build it is refused.
TEST(Cli, DistributedOutsideMpirunIsOneRankOrRefusedWithoutMpi) {
  test::TempDir dir;
  const std::string args =
      "train --data iris --epochs 3 --hidden 8 --batch 16 --shard-rows 4 --quiet";
  const CliRun one = run_cli(args + " --save " + (dir / "one.model").string(), dir);
  ASSERT_EQ(one.status, 0) << one.err;
  const CliRun ranked =
      run_cli(args + " --distributed exact --json --save " + (dir / "ranked.model").string(), dir);
  if (!mpi::available()) {
    EXPECT_EQ(ranked.status, 2);
    EXPECT_NE(ranked.err.find("built without MPI"), std::string::npos) << ranked.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "ranked.model"));
    return;
  }
  ASSERT_EQ(ranked.status, 0) << ranked.err;
  const auto j = nlohmann::json::parse(ranked.out);
  EXPECT_EQ(j["ranks"], 1);
  EXPECT_EQ(j["reduction"], "exact");
  EXPECT_EQ(j["rank_rows"].size(), 1u);
  EXPECT_EQ(test::read_text(dir / "ranked.model"), test::read_text(dir / "one.model"));
}

TEST(Cli, TrainsOnSyntheticMnistShapedData) {
  test::TempDir dir;
  const CliRun r = run_cli(
      "train --data synthetic:rows=600,features=30,classes=4,seed=9 --hidden 16 --epochs 8 "
      "--optimizer adam:lr=0.01 --json",
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["data"], "synthetic:rows=600,features=30,classes=4,seed=9");
  EXPECT_EQ(j["model"], "30-16-4");
  EXPECT_GT(j["val_accuracy"].get<double>(), 0.6);  // learnable; chance is 0.25
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
  EXPECT_NE(bad.err.find("T_max is required"), std::string::npos) << bad.err;
  const CliRun per = run_cli("train --data iris --schedule-per batch", dir);
  EXPECT_EQ(per.status, 2);
}

// The history without its timing columns (seconds, samples_per_second).
std::string without_timing(const std::string& csv) {
  std::string out;
  std::size_t start = 0;
  while (start < csv.size()) {
    std::size_t end = csv.find('\n', start);
    if (end == std::string::npos) end = csv.size();
    std::vector<std::string> cells;
    std::size_t c = start;
    while (c <= end) {
      std::size_t comma = csv.find(',', c);
      if (comma == std::string::npos || comma > end) comma = end;
      cells.push_back(csv.substr(c, comma - c));
      c = comma + 1;
    }
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (i != 7 && i != 8) out += cells[i] + ",";
    out += "\n";
    start = end + 1;
  }
  return out;
}

TEST(Cli, KilledMidEpochAndResumedEndsBitIdentical) {
  test::TempDir dir;
  const std::string common =
      "train --data digits --hidden 32 --optimizer adam --lr 0.01 --schedule cosine:T_max=6 "
      "--epochs 6 --seed 5 --quiet";
  const CliRun whole = run_cli(common + " --save " + (dir / "whole.model").string() +
                                   " --history " + (dir / "whole.csv").string(),
                               dir);
  ASSERT_EQ(whole.status, 0) << whole.err;
  // 1437 training rows in batches of 32: 45 steps an epoch. Die at step 160, inside epoch 4,
  // after the checkpoint of epoch 3.
  const CliRun killed = run_cli("DESCENT_TEST_CRASH_AT_STEP=160 " + std::string(DESCENT_CLI) + " " +
                                    common + " --checkpoint " + (dir / "ck").string() + " --save " +
                                    (dir / "killed.model").string(),
                                dir, false);
  ASSERT_EQ(killed.status, 128 + 9) << killed.err;  // SIGKILL
  EXPECT_FALSE(std::filesystem::exists(dir / "killed.model"));
  const CliRun resumed =
      run_cli(common + " --checkpoint " + (dir / "ck").string() + " --resume " +
                  (dir / "ck").string() + " --save " + (dir / "resumed.model").string() +
                  " --history " + (dir / "resumed.csv").string() + " --json",
              dir);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(resumed.out)["resumed_epoch"], 3);
  EXPECT_EQ(test::read_text(dir / "whole.model"), test::read_text(dir / "resumed.model"));
  EXPECT_EQ(without_timing(test::read_text(dir / "whole.csv")),
            without_timing(test::read_text(dir / "resumed.csv")));
}

TEST(Cli, ACrashWhileWritingACheckpointLeavesThePreviousOne) {
  test::TempDir dir;
  const std::string common =
      "train --data iris --hidden 8 --quiet --checkpoint " + (dir / "ck").string();
  ASSERT_EQ(run_cli(common + " --epochs 2", dir).status, 0);
  const std::string before = test::read_text(dir / "ck");
  const CliRun crash = run_cli("DESCENT_TEST_CRASH_BEFORE_RENAME=1 " + std::string(DESCENT_CLI) +
                                   " " + common + " --epochs 4 --resume " + (dir / "ck").string(),
                               dir, false);
  EXPECT_EQ(crash.status, 128 + 9);
  EXPECT_EQ(test::read_text(dir / "ck"), before);  // the old checkpoint, whole
  const CliRun resumed =
      run_cli(common + " --epochs 4 --resume " + (dir / "ck").string() + " --json", dir);
  EXPECT_EQ(resumed.status, 0) << resumed.err;
}

TEST(Cli, AModelTooLargeForTheMemoryLeftExitsTwoAndWritesNothing) {
  test::TempDir dir;
  // 192 MiB left, 128 MiB of them kept free: the 4-4000000-3 network's parameters (128 MB) do
  // not fit. Without the check, zeroing blocks past the memory left ended such a run (a layer
  // of 10^7 on this 24 GiB machine) by the OOM killer, with no message.
  const CliRun big = run_cli("DESCENT_TEST_AVAILABLE_MEMORY=201326592 " + std::string(DESCENT_CLI) +
                                 " train --data iris --hidden 4000000 --epochs 1 --quiet --save " +
                                 (dir / "m.model").string(),
                             dir, false);
  EXPECT_EQ(big.status, 2) << big.err;
  EXPECT_NE(big.err.find("out of memory"), std::string::npos) << big.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "m.model"));
}

// A model whose parameters fit but whose training does not is refused before it is
// initialised, and a sweep refused in its first run leaves no empty --out behind.
TEST(Cli, AModelTooLargeToTrainIsRefusedAndLeavesNoEmptyOutputDirectory) {
  test::TempDir dir;
  // 50 MB past the 128 MiB kept free: the 4-1000000-3 network's 32 MB blocks fit, its
  // training's copies and gradients do not.
  const std::string env = "DESCENT_TEST_AVAILABLE_MEMORY=184217728 ";
  const CliRun train = run_cli(
      env + std::string(DESCENT_CLI) + " train --data iris --hidden 1000000 --epochs 1 --quiet",
      dir, false);
  EXPECT_EQ(train.status, 2) << train.err;
  EXPECT_NE(train.err.find("out of memory: training this network of 8000003 parameters"),
            std::string::npos)
      << train.err;
  const CliRun sweep = run_cli(env + std::string(DESCENT_CLI) +
                                   " sweep --data iris --hidden 1000000 --lr 0.1 --max-epochs 1 "
                                   "--target-loss 0.1 --no-plots --quiet --out " +
                                   (dir / "runs" / "a").string(),
                               dir, false);
  EXPECT_EQ(sweep.status, 2) << sweep.err;
  EXPECT_NE(sweep.err.find("out of memory: training this network"), std::string::npos) << sweep.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "runs")) << "an empty --out was left";
  // lr-find checks with its own --batch, before it initialises or makes --out.
  const CliRun find = run_cli(env + std::string(DESCENT_CLI) +
                                  " lr-find --data iris --hidden 1000000 --batch 8 --out " +
                                  (dir / "find").string(),
                              dir, false);
  EXPECT_EQ(find.status, 2) << find.err;
  EXPECT_NE(find.err.find("parameters (31 MiB each copy) at batch 8 needs"), std::string::npos)
      << find.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "find"));
  // A directory that was there stays, empty or not.
  std::filesystem::create_directory(dir / "mine");
  const CliRun again = run_cli(env + std::string(DESCENT_CLI) +
                                   " sweep --data iris --hidden 1000000 --lr 0.1 --max-epochs 1 "
                                   "--target-loss 0.1 --no-plots --quiet --out " +
                                   (dir / "mine").string(),
                               dir, false);
  EXPECT_EQ(again.status, 2) << again.err;
  EXPECT_TRUE(std::filesystem::is_directory(dir / "mine"));
}

TEST(Cli, AReadOnlyOutputIsRefusedButARunMayReplaceItsOwnFiles) {
  test::TempDir dir;
  const std::string model = (dir / "m.model").string();
  test::write_text(dir / "m.model", "keep");
  ASSERT_EQ(::chmod(model.c_str(), 0444), 0);
  const CliRun refused = run_cli("train --data iris --epochs 1 --quiet --save " + model, dir);
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(refused.err.find("--save " + model + ": it is read-only (mode 0444)"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(test::read_text(dir / "m.model"), "keep");
  // Under umask 0277 the checkpoint is made 0400; each epoch replaces it all the same.
  const CliRun own = run_cli("sh -c 'umask 0277 && " + std::string(DESCENT_CLI) +
                                 " train --data iris --epochs 3 --quiet --checkpoint " +
                                 (dir / "c.ckpt").string() + "'",
                             dir, false);
  EXPECT_EQ(own.status, 0) << own.err;
}

TEST(Cli, ALinkThatLeadsNowhereIsNamedAsSuchNotAsMissing) {
  test::TempDir dir;
  std::filesystem::create_symlink("loop", dir / "loop");
  std::filesystem::create_symlink("gone", dir / "dangling");
  const std::string loop = (dir / "loop").string(), dangling = (dir / "dangling").string();
  const std::pair<std::string, std::string> cases[] = {
      {"train --data " + loop, "Too many levels of symbolic links"},
      {"train --data " + dangling, "No such file or directory"},
      {"train --data iris --init " + loop, "cannot be reached: Too many levels"},
      {"train --data iris --init " + dangling, "a link to a file that does not exist"},
      {"train --data iris --resume " + loop, "cannot be reached: Too many levels"},
      {"train --data iris --resume " + loop + "/ck", "cannot be reached: Too many levels"},
      {"train --data " + loop + "/x.csv", "Too many levels of symbolic links"},
      {"train --data iris --save " + loop + "/m.model", "Too many levels of symbolic links"},
  };
  for (const auto& [args, expected] : cases) {
    const CliRun r = run_cli(args, dir);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << ": " << r.err;
  }
}

TEST(Cli, ResumeRefusesAnotherRunsCheckpoint) {
  test::TempDir dir;
  ASSERT_EQ(run_cli("train --data iris --hidden 8 --epochs 1 --quiet --checkpoint " +
                        (dir / "ck").string(),
                    dir)
                .status,
            0);
  const CliRun shape =
      run_cli("train --data iris --hidden 9 --resume " + (dir / "ck").string(), dir);
  EXPECT_EQ(shape.status, 2);
  EXPECT_NE(shape.err.find("the checkpoint is for a 4-8 relu-3 network"), std::string::npos)
      << shape.err;
  const CliRun optimizer = run_cli(
      "train --data iris --hidden 8 --optimizer adam --resume " + (dir / "ck").string(), dir);
  EXPECT_EQ(optimizer.status, 2);
  EXPECT_NE(optimizer.err.find("the checkpoint was written with optimizer sgd:"), std::string::npos)
      << optimizer.err;
  test::write_text(dir / "cut", test::read_text(dir / "ck").substr(0, 50));
  const CliRun cut =
      run_cli("train --data iris --hidden 8 --resume " + (dir / "cut").string(), dir);
  EXPECT_EQ(cut.status, 2);
  EXPECT_NE(cut.err.find("damaged or truncated"), std::string::npos) << cut.err;
}

// A saved model (its weights and standardisation) starts a new run with --init, and weights
// that expect raw inputs (torch's, as a flat file) train with --no-standardize.
TEST(Cli, InitFromASavedModelOrRawWeightsPicksUpWhereTheyWere) {
  test::TempDir dir;
  auto val_loss = [&](const std::string& args) {
    const CliRun r = run_cli("train --data iris --hidden 8 --json " + args, dir);
    EXPECT_EQ(r.status, 0) << args << "\n" << r.err;
    return r.status == 0 ? nlohmann::json::parse(r.out)["final_val_loss"].get<double>() : -1.0;
  };
  const std::string model = (dir / "a.model").string();
  const double trained = val_loss("--epochs 20 --save " + model);
  // Another epoch at a rate too small to move the weights: the validation loss it ended with.
  EXPECT_NEAR(val_loss("--epochs 1 --lr 1e-30 --init " + model), trained, 1e-9 * trained);
  EXPECT_LT(val_loss("--epochs 5 --init " + model), trained);  // and it trains on from there
  const CliRun other = run_cli("train --data iris --hidden 4 --init " + model, dir);
  EXPECT_EQ(other.status, 2);
  EXPECT_NE(other.err.find("the model is 4-8-3 relu, and this run's network 4-4-3 relu (give "
                           "--hidden and --activation to match)"),
            std::string::npos)
      << other.err;
  const CliRun wine = run_cli("train --data wine --hidden 8 --init " + model, dir);
  EXPECT_EQ(wine.status, 2);
  EXPECT_NE(wine.err.find("the data has 13 features, the model takes 4"), std::string::npos)
      << wine.err;
  const CliRun raw_too =
      run_cli("train --data iris --hidden 8 --no-standardize --init " + model, dir);
  EXPECT_EQ(raw_too.status, 2);
  EXPECT_NE(raw_too.err.find("brings its own standardisation"), std::string::npos) << raw_too.err;

  // A run started from a model is resumed with it again (its standardisation; no warning that
  // --init is ignored), and refused without it, saying why.
  const std::string scaled = (dir / "scaled.model").string(), ck = (dir / "ck").string();
  val_loss("--epochs 3 --seed 7 --val-fraction 0.5 --save " + scaled);
  val_loss("--epochs 2 --checkpoint " + ck + " --init " + scaled);
  const CliRun without = run_cli("train --data iris --hidden 8 --epochs 4 --resume " + ck, dir);
  EXPECT_EQ(without.status, 2);
  EXPECT_NE(without.err.find("standardised otherwise"), std::string::npos) << without.err;
  const CliRun with = run_cli(
      "train --data iris --hidden 8 --epochs 4 --json --resume " + ck + " --init " + scaled, dir);
  ASSERT_EQ(with.status, 0) << with.err;
  EXPECT_EQ(nlohmann::json::parse(with.out)["epochs"], 4);
  EXPECT_EQ(with.err.find("--init has no effect"), std::string::npos) << with.err;
  const std::string raw_ck = (dir / "raw_ck").string();
  val_loss("--epochs 2 --no-standardize --checkpoint " + raw_ck);
  const CliRun scaled_resume =
      run_cli("train --data iris --hidden 8 --epochs 4 --resume " + raw_ck, dir);
  EXPECT_EQ(scaled_resume.status, 2);
  EXPECT_NE(scaled_resume.err.find("trained on raw features, this run standardises them"),
            std::string::npos)
      << scaled_resume.err;

  // Raw inputs: a model trained without standardising, its weights as a flat file.
  const std::string raw = (dir / "raw.model").string(), flat = (dir / "raw.bin").string();
  const double raw_trained = val_loss("--epochs 20 --no-standardize --save " + raw);
  save_parameters(flat, load_network(raw));
  EXPECT_NEAR(val_loss("--epochs 1 --lr 1e-30 --no-standardize --init " + flat), raw_trained,
              1e-9 * raw_trained);
  // Standardised, the same weights see other inputs.
  EXPECT_GT(std::abs(val_loss("--epochs 1 --lr 1e-30 --init " + flat) - raw_trained),
            0.01 * raw_trained);
}

// Spelled differently (relative, ./, absolute, a link not yet leading anywhere), one new
// file is still one file; an output that cannot be written is found before the first epoch.
// Either way nothing is trained or written.
TEST(Cli, OutputsAreCheckedBeforeTrainingWhateverTheirSpelling) {
  test::TempDir dir;
  std::filesystem::create_symlink("m", dir / "link");
  const std::string train = "cd " + dir.path().string() + " && " + std::string(DESCENT_CLI) +
                            " train --data iris --hidden 4 --epochs 1 ";
  const std::pair<std::string, std::string> cases[] = {
      {"--save m --checkpoint ./m", "--save and --checkpoint name the same file"},
      {"--checkpoint m --history " + (dir / "m").string(),
       "--history and --checkpoint name the same file"},
      {"--save link --history m", "--save and --history name the same file"},
      {"--save /proc/m", "--save /proc/m: cannot create a file in \"/proc\""},
      {"--save m --history /proc/h.csv", "--history /proc/h.csv: cannot create a file"},
      {"--checkpoint " + std::string(300, 'c'), "bytes long"},
      {"--save /proc/self/fd/999", "descriptor 999 is not open"},
      // Standard output (here the test's pipe) carries the summary or the JSON.
      {"--save /dev/stdout",
       "--save /dev/stdout: that is this command's standard output, which also carries the "
       "run's summary"},
      {"--json --history /proc/self/fd/1",
       "--history /proc/self/fd/1: that is this command's standard output, which also carries "
       "the run's JSON"},
  };
  for (const auto& [options, message] : cases) {
    const CliRun r = run_cli(train + options, dir, false);
    EXPECT_EQ(r.status, 2) << options << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << options << "\n" << r.err;
    EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << options << ": it trained";
    EXPECT_FALSE(std::filesystem::exists(dir / "m")) << options;
  }
}

// A data file whose name is not UTF-8 still gives valid JSON (U+FFFD for the bad byte).
TEST(Cli, JsonStaysValidForAFileNameThatIsNotUtf8) {
  test::TempDir dir;
  const std::filesystem::path data = dir / "x\xff.csv";
  std::filesystem::copy_file(std::filesystem::path(DESCENT_DATA) / "iris.csv", data);
  const CliRun r =
      run_cli("train --data '" + data.string() + "' --hidden 4 --epochs 1 --json", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NE(j["data"].get<std::string>().find("x\xef\xbf\xbd.csv"), std::string::npos) << r.out;
}

TEST(Cli, OutputsMustBeDistinctFilesAndNotTheInputs) {
  test::TempDir dir;
  const std::string f = (dir / "out").string();
  test::write_text(dir / "data.csv", "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n");
  const std::string data = (dir / "data.csv").string();
  const std::pair<std::string, std::string> cases[] = {
      {"--save " + f + " --history " + f, "--save and --history name the same file"},
      {"--save " + f + " --checkpoint " + f, "--save and --checkpoint name the same file"},
      {"--history " + f + " --checkpoint " + (dir / "." / "out").string(),
       "--history and --checkpoint name the same file"},
      {"--save " + data, "--save and --data name the same file"},
  };
  for (const auto& [options, message] : cases) {
    const CliRun r = run_cli("train --data " + data + " --epochs 1 " + options, dir);
    EXPECT_EQ(r.status, 2) << options;
    EXPECT_NE(r.err.find(message), std::string::npos) << options << "\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(f)) << options;
  }
  EXPECT_EQ(test::read_text(dir / "data.csv"), "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n");
  // The same for the files behind a bundled set's name and an IDX set's labels.
  std::filesystem::create_directory(dir / "bundled");
  test::write_text(dir / "bundled" / "toy.csv", "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n");
  test::write_text(dir / "x-images-idx3-ubyte", "images");
  test::write_text(dir / "x-labels-idx1-ubyte", "labels");
  const std::pair<std::string, std::string> named[] = {
      {"--data toy --history " + (dir / "bundled" / "toy.csv").string(),
       "--history and --data name the same file"},
      {"--data toy --save " + (dir / "bundled" / "." / "toy.csv").string(),
       "--save and --data name the same file"},
      {"--data " + (dir / "x-images-idx3-ubyte").string() + " --save " +
           (dir / "x-labels-idx1-ubyte").string(),
       "--save and --data name the same file"},
  };
  for (const auto& [options, message] : named) {
    const CliRun r = run_cli("DESCENT_DATA_DIR=" + (dir / "bundled").string() + " " +
                                 std::string(DESCENT_CLI) + " train --epochs 1 " + options,
                             dir, false);
    EXPECT_EQ(r.status, 2) << options;
    EXPECT_NE(r.err.find(message), std::string::npos) << options << "\n" << r.err;
  }
  EXPECT_EQ(test::read_text(dir / "bundled" / "toy.csv"), "a,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n");
  EXPECT_EQ(test::read_text(dir / "x-labels-idx1-ubyte"), "labels");
  // --checkpoint may be the file --resume reads: the run goes on writing it.
  const std::string ck = (dir / "ck").string();
  ASSERT_EQ(run_cli("train --data iris --epochs 1 --quiet --checkpoint " + ck, dir).status, 0);
  const CliRun again =
      run_cli("train --data iris --epochs 2 --quiet --checkpoint " + ck + " --resume " + ck, dir);
  EXPECT_EQ(again.status, 0) << again.err;
}

TEST(Cli, OptionsThatNeedAnotherAreReportedAsIgnored) {
  test::TempDir dir;
  const CliRun r = run_cli(
      "train --data iris --epochs 1 --checkpoint-every 2 --schedule-per step --min-delta 0.1 "
      "--plateau-patience 3",
      dir);
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* warning : {"--checkpoint-every has no effect without --checkpoint",
                              "--schedule-per has no effect without --schedule",
                              "--min-delta has no effect without --early-stopping",
                              "--plateau-patience has no effect without --plateau-tol"}) {
    EXPECT_NE(r.err.find(warning), std::string::npos) << warning << "\n" << r.err;
  }  // And options another overrides: the model summary does not claim them either.
  const CliRun r2 = run_cli(
      "train --data iris --epochs 1 --hidden none --activation tanh --schedule plateau "
      "--schedule-per step",
      dir);
  EXPECT_EQ(r2.status, 0) << r2.err;
  for (const char* warning : {"--activation has no effect with --hidden none",
                              "--schedule-per step: plateau steps once per epoch"}) {
    EXPECT_NE(r2.err.find(warning), std::string::npos) << warning << "\n" << r2.err;
  }
  EXPECT_NE(r2.out.find("model      4-3, cross_entropy"), std::string::npos) << r2.out;
  EXPECT_NE(r2.out.find("schedule plateau per epoch"), std::string::npos) << r2.out;
  // --quiet hides the progress, not the warnings: the summary keeps them, and --json lists them.
  const CliRun quiet =
      run_cli("train --data iris --epochs 1 --checkpoint-every 2 --min-delta 0.1 --quiet", dir);
  EXPECT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_NE(quiet.out.find("warning    --checkpoint-every has no effect without --checkpoint"),
            std::string::npos)
      << quiet.out;
  const CliRun json =
      run_cli("train --data iris --epochs 1 --checkpoint-every 2 --min-delta 0.1 --json", dir);
  EXPECT_EQ(json.status, 0) << json.err;
  const auto warnings = nlohmann::json::parse(json.out)["warnings"];
  ASSERT_EQ(warnings.size(), 2u) << json.out;
  EXPECT_EQ(warnings[0], "--checkpoint-every has no effect without --checkpoint");
  EXPECT_EQ(warnings[1], "--min-delta has no effect without --early-stopping");
}

TEST(Cli, AScheduleRateBeyondAFloatStopsTheRunAndKeepsWhatItTrained) {
  // Per step: the rate after step 1 overflows; per epoch: after epoch 2. Either way the run
  // stops there as diverged, and its history and model are written (they were lost when
  // this was an error).
  const std::pair<std::string, std::string> cases[] = {
      {"--batch 30 --schedule exponential:gamma=1e308 --schedule-per step",
       "gave the learning rate 1.0000000000000001e+307 after step 1"},
      {"--batch full --schedule exponential:gamma=1e20 --optimizer adam:lr=0.001 "
       "--divergence-factor 0",
       "gave the learning rate 9.999999999999999e+56 after epoch 3"},
  };
  for (const auto& [options, message] : cases) {
    test::TempDir dir;
    const CliRun r =
        run_cli("train --data iris --hidden none --epochs 6 --json " + options + " --history " +
                    (dir / "h.csv").string() + " --save " + (dir / "m.bin").string(),
                dir);
    ASSERT_EQ(r.status, 0) << options << "\n" << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["stop_reason"], "diverged") << r.out;
    EXPECT_NE(j["stop_message"].get<std::string>().find(message), std::string::npos) << r.out;
    const std::string history = test::read_text(dir / "h.csv");
    EXPECT_NE(history.find("\n1,"), std::string::npos) << history;
    EXPECT_EQ(history.find("\n4,"), std::string::npos) << history;
    EXPECT_TRUE(std::filesystem::exists(dir / "m.bin"));
  }
}

// The files in `dir` whose names end in .tmp (an atomic write's partial file).
std::vector<std::string> temporary_files(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tmp") found.push_back(e.path().filename().string());
  return found;
}

// A signal that ends a sweep during its first run (nothing in --out yet) leaves no empty --out
// directory behind, as a sweep that fails does; one with results in it stays.
TEST(Cli, ASweepEndedByASignalBeforeItsFirstResultLeavesNoOutDirectory) {
  test::TempDir dir;
  const auto out = dir / "made" / "sweep";
  const std::string sweep =
      std::string(DESCENT_CLI) +
      " sweep --data synthetic:rows=4000 --hidden 512,512 --epochs 100000 --target-loss 1e-30 "
      "--lr 0.001,0.002 --no-plots --quiet --out " +
      out.string();
  const CliRun r = run_cli("sh -c '" + sweep + " & pid=$!; i=0; while [ ! -d " + out.string() +
                               " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; " +
                               "sleep 0.3; kill -TERM $pid; wait $pid'",
                           dir, false);
  ASSERT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "made")) << "left behind";
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Cli, ASignalStopsTrainingAfterItsStepAndTheRunIsWrittenAndResumable) {
  // SIGTERM (as Ctrl-C's SIGINT) stops the run after the step under way: the model, history
  // and checkpoint are written, the status is 128 + 15, and --resume goes on from there.
  test::TempDir dir;
  const std::string files = " --checkpoint " + (dir / "c.ckpt").string() + " --save " +
                            (dir / "m.bin").string() + " --history " + (dir / "h.csv").string();
  const std::string train = "train --data digits --hidden 16 --batch 8 --json" + files;
  // The signal goes once training runs (its first checkpoint is there): sent at a fixed time,
  // it could land while a loaded machine was still starting the command, which a signal ends
  // at once, with nothing written.
  const CliRun r = run_cli("sh -c '" + std::string(DESCENT_CLI) + " " + train +
                               " --epochs 100000000 & pid=$!; i=0; " + "while [ ! -e " +
                               (dir / "c.ckpt").string() + " ] && [ $i -lt 600 ]; do sleep 0.1; " +
                               "i=$((i+1)); done; sleep 0.2; kill -TERM $pid; wait $pid'",
                           dir, false);
  ASSERT_EQ(r.status, 128 + SIGTERM) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stop_reason"], "interrupted");
  EXPECT_NE(j["stop_message"].get<std::string>().find("SIGTERM at step"), std::string::npos)
      << r.out;
  const std::size_t epochs = j["epochs"].get<std::size_t>();
  ASSERT_GT(epochs, 0u);
  EXPECT_TRUE(std::filesystem::exists(dir / "m.bin"));
  EXPECT_NE(test::read_text(dir / "h.csv").find(fmt::format("\n{},", epochs)), std::string::npos);
  EXPECT_EQ(temporary_files(dir.path()), std::vector<std::string>{});
  const CliRun resumed = run_cli(
      train + fmt::format(" --epochs {} --resume ", epochs + 1) + (dir / "c.ckpt").string(), dir);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const auto k = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(k["stop_reason"], "max_epochs");
  // (From the last whole epoch; the one cut short is saved with its position.)
  EXPECT_GE(k["resumed_epoch"].get<std::size_t>() + 1, epochs);
  EXPECT_EQ(k["final_epoch"], epochs + 1);
  // SIGHUP ends the process at once, as by default, but leaves no partial checkpoint behind.
  // The first checkpoint's write waits (the test hook) with its temporary file written and not
  // yet renamed, so the signal surely lands there.
  const CliRun hung = run_cli(
      "DESCENT_TEST_PAUSE_BEFORE_RENAME=60 timeout --preserve-status "
      "-k 30 -s HUP 2 " +
          std::string(DESCENT_CLI) +
          " train --data digits --hidden 16 --epochs 100000000 --quiet "
          "--checkpoint " +
          (dir / "c2.ckpt").string(),
      dir, false);
  EXPECT_EQ(hung.status, 128 + SIGHUP) << hung.err;
  EXPECT_EQ(temporary_files(dir.path()), std::vector<std::string>{});
  EXPECT_FALSE(std::filesystem::exists(dir / "c2.ckpt"));
}

TEST(Cli, ResumingAFinishedRunReportsItAndTrainsNothing) {
  test::TempDir dir;
  const std::string ck = (dir / "ck").string();
  ASSERT_EQ(run_cli("train --data iris --epochs 3 --quiet --checkpoint " + ck, dir).status, 0);
  const CliRun r = run_cli("train --data iris --epochs 3 --json --resume " + ck, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stop_reason"], "max_epochs");
  EXPECT_EQ(j["epochs"], 3);
  EXPECT_NE(j["stop_message"].get<std::string>().find("already stopped"), std::string::npos);
  // The summary shows no rate for it (it said "0 samples/s").
  const CliRun text = run_cli("train --data iris --epochs 3 --resume " + ck, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("  ran        3 epochs"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("0 samples/s"), std::string::npos) << text.out;
}

TEST(Cli, EvaluatesATestSetWithASingleClass) {
  test::TempDir dir;
  ASSERT_EQ(run_cli("train --data iris --hidden 8 --epochs 30 --lr 0.2 --quiet --save " +
                        (dir / "iris.model").string(),
                    dir)
                .status,
            0);
  test::write_text(dir / "setosa.csv", "a,b,c,d,y\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,0\n");
  const CliRun eval = run_cli("evaluate --model " + (dir / "iris.model").string() + " --data " +
                                  (dir / "setosa.csv").string() + " --json",
                              dir);
  ASSERT_EQ(eval.status, 0) << eval.err;
  const auto j = nlohmann::json::parse(eval.out);
  EXPECT_EQ(j["rows"], 2);
  EXPECT_EQ(j["confusion"].size(), 3u);
  // Training on one class stays an error.
  const CliRun train = run_cli(
      "train --data " + (dir / "setosa.csv").string() + " --task classification --epochs 1", dir);
  EXPECT_EQ(train.status, 2);
  EXPECT_NE(train.err.find("needs at least 2 classes"), std::string::npos) << train.err;
}

TEST(Cli, EvaluatePrintsAConfusionMatrixThatFitsAndSaysWhenItDoesNot) {
  test::TempDir dir;
  for (const int classes : {4, 40, 2000}) {
    const std::string data = fmt::format("synthetic:rows=300,features=3,classes={}", classes);
    const auto model = (dir / fmt::format("c{}.bin", classes)).string();
    ASSERT_EQ(
        run_cli("train --hidden none --epochs 1 --quiet --data " + data + " --save " + model, dir)
            .status,
        0);
    const CliRun text = run_cli("evaluate --model " + model + " --data " + data, dir);
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_NE(text.out.find("accuracy"), std::string::npos) << text.out;
    const CliRun json = run_cli("evaluate --json --model " + model + " --data " + data, dir);
    ASSERT_EQ(json.status, 0) << json.err;
    const auto confusion = nlohmann::json::parse(json.out)["confusion"];
    if (classes == 4) {
      EXPECT_NE(text.out.find("confusion (rows: true class"), std::string::npos) << text.out;
      EXPECT_EQ(confusion.size(), 4u);
    } else if (classes == 40) {
      EXPECT_NE(text.out.find("40 classes, too many to print: --json has the matrix"),
                std::string::npos)
          << text.out;
      EXPECT_EQ(confusion.size(), 40u);
    } else {
      EXPECT_NE(text.out.find("not computed for more than 1000 classes"), std::string::npos)
          << text.out;
      EXPECT_TRUE(confusion.is_null());
    }
  }
}

TEST(Cli, PredictIgnoresATargetColumnOfClassNames) {
  test::TempDir dir;
  const auto model = (dir / "m.bin").string();
  ASSERT_EQ(run_cli("train --data iris --hidden 4 --epochs 1 --quiet --save " + model, dir).status,
            0);
  const std::string iris = test::read_text(std::string(DESCENT_DATA) + "/iris.csv");
  // The same rows with the class as a name.
  std::string named;
  std::istringstream lines(iris);
  const char* names[] = {"setosa", "versicolor", "virginica"};
  for (std::string line; std::getline(lines, line);) {
    const auto comma = line.rfind(',');
    const std::string target = line.substr(comma + 1);
    named += line.substr(0, comma + 1) + (named.empty() ? target : names[std::stoi(target)]) + "\n";
  }
  test::write_text(dir / "named.csv", named);
  const CliRun numbers = run_cli("predict --data iris --model " + model, dir);
  const CliRun words =
      run_cli("predict --data " + (dir / "named.csv").string() + " --model " + model, dir);
  ASSERT_EQ(words.status, 0) << words.err;
  EXPECT_EQ(words.out, numbers.out);
}

TEST(Cli, ATargetReadInASurprisingWayIsWarnedAbout) {
  test::TempDir dir;
  std::string one_based = "x,y\n", signs = "x,y\n", fine = "x,y\n";
  for (int i = 0; i < 30; ++i) {
    one_based += fmt::format("{},{}\n", i, 1 + i % 3);
    signs += fmt::format("{},{}\n", i, i % 2 == 0 ? -1 : 1);
    fine += fmt::format("{},{}\n", i, i % 3);
  }
  const std::pair<std::string, std::string> cases[] = {
      {one_based,
       "class 0 has no rows; classes are the labels 0..3, one output each (labels "
       "that start at 1 leave class 0 empty)"},
      {signs, "the target has two values only, -1 and 1, read as numbers (regression)"},
      {fine, ""},
  };
  for (const auto& [csv, warning] : cases) {
    test::write_text(dir / "d.csv", csv);
    const CliRun r =
        run_cli("train --hidden 4 --epochs 1 --json --data " + (dir / "d.csv").string(), dir);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto warnings = nlohmann::json::parse(r.out)["warnings"];
    if (warning.empty()) {
      EXPECT_TRUE(warnings.empty()) << warnings.dump();
      continue;
    }
    ASSERT_EQ(warnings.size(), 1u) << warnings.dump();
    EXPECT_NE(warnings[0].get<std::string>().find(warning), std::string::npos) << warnings.dump();
    EXPECT_NE(r.err.find("warning: "), std::string::npos) << r.err;
  }
  // lr-find and sweep read the target the same way, and say so on stderr.
  test::write_text(dir / "d.csv", one_based);
  const std::string data = " --hidden 4 --data " + (dir / "d.csv").string();
  for (const std::string& command : {"lr-find --steps 10" + data,
                                     "sweep --target-loss 0.1 --max-epochs 1 --batch 8 --lr 0.1 "
                                     "--threads 1 --no-plots --out " +
                                         (dir / "sweep").string() + data}) {
    const CliRun r = run_cli(command, dir);
    ASSERT_EQ(r.status, 0) << command << ": " << r.err;
    EXPECT_NE(r.err.find("warning: \"" + (dir / "d.csv").string() + "\": class 0 has no rows"),
              std::string::npos)
        << command << ": " << r.err;
  }
}

TEST(Cli, ALossOtherThanTheModelsIsTakenWithAWarning) {
  test::TempDir dir;
  const auto model = (dir / "m.bin").string();
  ASSERT_EQ(run_cli("train --data iris --hidden 4 --epochs 1 --quiet --save " + model, dir).status,
            0);
  const CliRun other = run_cli("predict --data iris --loss mse --model " + model, dir);
  ASSERT_EQ(other.status, 0) << other.err;
  EXPECT_EQ(other.out.substr(0, other.out.find('\n')), "prediction_1,prediction_2,prediction_3");
  EXPECT_NE(other.err.find("warning: --loss mse: the model in " + model +
                           " was trained with cross_entropy"),
            std::string::npos)
      << other.err;
  const CliRun same = run_cli("predict --data iris --loss cross_entropy --model " + model, dir);
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(same.err.find("warning"), std::string::npos) << same.err;
}

TEST(Cli, ACheckpointServesWhereAModelFileDoes) {
  // The final checkpoint and --save hold the same model: predict, evaluate and train --init
  // give the same from either.
  test::TempDir dir;
  const auto model = (dir / "m.bin").string(), ck = (dir / "ck.bin").string();
  ASSERT_EQ(run_cli("train --data iris --hidden 8 --epochs 4 --quiet --save " + model +
                        " --checkpoint " + ck,
                    dir)
                .status,
            0);
  for (const std::string command :
       {"predict --data iris --model ", "evaluate --data iris --model "}) {
    const CliRun a = run_cli(command + model, dir);
    const CliRun b = run_cli(command + ck, dir);
    ASSERT_EQ(a.status, 0) << a.err;
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_EQ(a.out.substr(a.out.find('\n')), b.out.substr(b.out.find('\n'))) << command;
  }
  const std::string more = "train --data iris --hidden 8 --epochs 2 --json --init ";
  const CliRun a = run_cli(more + model, dir);
  const CliRun b = run_cli(more + ck, dir);
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["final_val_loss"],
            nlohmann::json::parse(b.out)["final_val_loss"]);
  // A damaged checkpoint is refused as one.
  std::string bytes = test::read_text(dir / "ck.bin");
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x41);
  test::write_text(dir / "bad.bin", bytes);
  const CliRun bad = run_cli("predict --data iris --model " + (dir / "bad.bin").string(), dir);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("the checkpoint is damaged or truncated"), std::string::npos) << bad.err;
}

TEST(Cli, PredictAndEvaluate) {
  test::TempDir dir;
  ASSERT_EQ(run_cli("train --data iris --hidden 8 --epochs 30 --lr 0.2 --quiet --save " +
                        (dir / "iris.model").string(),
                    dir)
                .status,
            0);
  const CliRun eval = run_cli("evaluate --model " + (dir / "iris.model").string() + " --data " +
                                  std::string(DESCENT_DATA) + "/iris.csv --json",
                              dir);
  ASSERT_EQ(eval.status, 0) << eval.err;
  const auto j = nlohmann::json::parse(eval.out);
  EXPECT_EQ(j["rows"], 150);
  EXPECT_GT(j["accuracy"].get<double>(), 0.8);
  std::size_t total = 0;
  for (const auto& row : j["confusion"])
    for (const auto& c : row) total += c.get<std::size_t>();
  EXPECT_EQ(total, 150u);
  // Features only (no target column): predictions with class probabilities.
  test::write_text(dir / "new.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n");
  const CliRun pred =
      run_cli("predict --model " + (dir / "iris.model").string() + " --data " +
                  (dir / "new.csv").string() + " --out " + (dir / "pred.csv").string(),
              dir);
  ASSERT_EQ(pred.status, 0) << pred.err;
  const std::string csv = test::read_text(dir / "pred.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "prediction,p0,p1,p2");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_EQ(csv[csv.find('\n') + 1], '0');  // a setosa
  // The same file has no target to evaluate against: said so (not "class labels must be
  // integers", of the last feature read as a target).
  const CliRun no_target = run_cli(
      "evaluate --model " + (dir / "iris.model").string() + " --data " + (dir / "new.csv").string(),
      dir);
  EXPECT_EQ(no_target.status, 2);
  EXPECT_NE(no_target.err.find("has the model's 4 features and no target column"),
            std::string::npos)
      << no_target.err;
  // Regression: MSE, MAE and R^2.
  ASSERT_EQ(run_cli("train --data diabetes --hidden 16 --optimizer adam --lr 0.05 --epochs 60 "
                    "--quiet --save " +
                        (dir / "d.model").string(),
                    dir)
                .status,
            0);
  const CliRun reg = run_cli("evaluate --model " + (dir / "d.model").string() + " --data " +
                                 std::string(DESCENT_DATA) + "/diabetes.csv --json",
                             dir);
  ASSERT_EQ(reg.status, 0) << reg.err;
  const auto r = nlohmann::json::parse(reg.out);
  EXPECT_GT(r["r2"].get<double>(), 0.3);
  EXPECT_GT(r["mae"].get<double>(), 0.0);
  // A feature count that does not match is an error.
  const CliRun wrong = run_cli("evaluate --model " + (dir / "iris.model").string() + " --data " +
                                   std::string(DESCENT_DATA) + "/wine.csv",
                               dir);
  EXPECT_EQ(wrong.status, 2);
  EXPECT_NE(wrong.err.find("has 13 features; the model takes 4"), std::string::npos) << wrong.err;
  const CliRun wrong_predict = run_cli("predict --model " + (dir / "iris.model").string() +
                                           " --data " + std::string(DESCENT_DATA) + "/wine.csv",
                                       dir);
  EXPECT_EQ(wrong_predict.status, 2);
  EXPECT_NE(wrong_predict.err.find("wine.csv:1: the header has 14 columns; the model takes 4 "
                                   "features (give 4 columns, or 5 with the target last)"),
            std::string::npos)
      << wrong_predict.err;
  const CliRun no_model =
      run_cli("predict --model " + (dir / "none").string() + " --data x.csv", dir);
  EXPECT_EQ(no_model.status, 2);
  // --out may not name the model or the data it reads (train refuses the same): both stay.
  const std::string model_bytes = test::read_text(dir / "iris.model");
  for (const std::string& target : {(dir / "iris.model").string(), (dir / "new.csv").string()}) {
    const CliRun self = run_cli("predict --model " + (dir / "iris.model").string() + " --data " +
                                    (dir / "new.csv").string() + " --out " + target,
                                dir);
    EXPECT_EQ(self.status, 2) << target;
    EXPECT_NE(self.err.find("name the same file"), std::string::npos) << self.err;
  }
  EXPECT_EQ(test::read_text(dir / "iris.model"), model_bytes);
  EXPECT_EQ(test::read_text(dir / "new.csv"), "a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n");
  // An input so far out that the outputs overflow: an error naming the row, not "nan".
  test::write_text(dir / "far.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n-3e38,-3e38,-3e38,-3e38\n");
  const CliRun far =
      run_cli("predict --model " + (dir / "iris.model").string() + " --data " +
                  (dir / "far.csv").string() + " --out " + (dir / "far_pred.csv").string(),
              dir);
  EXPECT_EQ(far.status, 2) << far.out;
  EXPECT_NE(far.err.find("row 2: the model's output"), std::string::npos) << far.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "far_pred.csv"));
}

TEST(Cli, PredictAndEvaluateTakeEveryDataSetTrainTakes) {
  test::TempDir dir;
  const std::string model = (dir / "iris.model").string();
  ASSERT_EQ(
      run_cli("train --data iris --hidden 8 --epochs 30 --lr 0.2 --quiet --save " + model, dir)
          .status,
      0);
  // A bundled set by name: the same rows and figures as its CSV by path.
  const CliRun by_name = run_cli("evaluate --model " + model + " --data iris --json", dir);
  const CliRun by_path = run_cli(
      "evaluate --model " + model + " --data " + std::string(DESCENT_DATA) + "/iris.csv --json",
      dir);
  ASSERT_EQ(by_name.status, 0) << by_name.err;
  ASSERT_EQ(by_path.status, 0) << by_path.err;
  EXPECT_EQ(nlohmann::json::parse(by_name.out), nlohmann::json::parse(by_path.out));
  const CliRun predicted = run_cli("predict --model " + model + " --data iris", dir);
  ASSERT_EQ(predicted.status, 0) << predicted.err;
  EXPECT_EQ(std::count(predicted.out.begin(), predicted.out.end(), '\n'), 151);
  // IDX images by path (2 x 2 pixels: the model's 4 features), labels found beside them.
  const std::string images(
      "\0\0\x08\x03\0\0\0\x03\0\0\0\x02\0\0\0\x02"
      "\x05\x03\x01\x00\x07\x03\x05\x02\x06\x03\x04\x01",
      28);
  const std::string labels("\0\0\x08\x01\0\0\0\x03\x00\x02\x01", 11);
  test::write_text(dir / "t-images-idx3-ubyte", images);
  test::write_text(dir / "t-labels-idx1-ubyte", labels);
  const CliRun idx = run_cli(
      "evaluate --model " + model + " --data " + (dir / "t-images-idx3-ubyte").string() + " --json",
      dir);
  ASSERT_EQ(idx.status, 0) << idx.err;
  EXPECT_EQ(nlohmann::json::parse(idx.out)["rows"], 3);
  const CliRun idx_predicted = run_cli(
      "predict --model " + model + " --data " + (dir / "t-images-idx3-ubyte").string(), dir);
  ASSERT_EQ(idx_predicted.status, 0) << idx_predicted.err;
  EXPECT_EQ(std::count(idx_predicted.out.begin(), idx_predicted.out.end(), '\n'), 4);
  // Without their labels file, images can still be predicted, not evaluated.
  std::filesystem::remove(dir / "t-labels-idx1-ubyte");
  const CliRun unlabelled = run_cli(
      "predict --model " + model + " --data " + (dir / "t-images-idx3-ubyte").string(), dir);
  ASSERT_EQ(unlabelled.status, 0) << unlabelled.err;
  EXPECT_EQ(unlabelled.out, idx_predicted.out);
  const CliRun no_labels = run_cli(
      "evaluate --model " + model + " --data " + (dir / "t-images-idx3-ubyte").string(), dir);
  EXPECT_EQ(no_labels.status, 2);
  EXPECT_NE(no_labels.err.find("t-labels-idx1-ubyte\" does not exist"), std::string::npos)
      << no_labels.err;
  // Synthetic data, whose feature count must match the model's.
  const CliRun synthetic =
      run_cli("predict --model " + model + " --data synthetic:rows=5,features=4,classes=3", dir);
  ASSERT_EQ(synthetic.status, 0) << synthetic.err;
  EXPECT_EQ(std::count(synthetic.out.begin(), synthetic.out.end(), '\n'), 6);
  const CliRun too_wide =
      run_cli("predict --model " + model + " --data synthetic:rows=5,features=9,classes=3", dir);
  EXPECT_EQ(too_wide.status, 2);
  EXPECT_NE(too_wide.err.find("has 9 features; the model takes 4"), std::string::npos)
      << too_wide.err;
  // A name that names nothing, and --out naming the file a name stands for.
  for (const std::string command : {"evaluate", "predict"}) {
    const CliRun unknown = run_cli(command + " --model " + model + " --data no_such_set", dir);
    EXPECT_EQ(unknown.status, 2) << command;
    EXPECT_NE(unknown.err.find("unknown dataset \"no_such_set\""), std::string::npos)
        << unknown.err;
  }
  const std::filesystem::path copy = dir / "data";
  std::filesystem::create_directory(copy);
  std::filesystem::copy_file(std::string(DESCENT_DATA) + "/iris.csv", copy / "iris.csv");
  const std::string bytes = test::read_text(copy / "iris.csv");
  const CliRun overwrite = run_cli("env DESCENT_DATA_DIR=" + copy.string() + " " +
                                       std::string(DESCENT_CLI) + " predict --model " + model +
                                       " --data iris --out " + (copy / "iris.csv").string(),
                                   dir, false);
  EXPECT_EQ(overwrite.status, 2);
  EXPECT_NE(overwrite.err.find("--out and --data name the same file"), std::string::npos)
      << overwrite.err;
  EXPECT_EQ(test::read_text(copy / "iris.csv"), bytes);
}

TEST(Cli, OutputThatCannotBeWrittenIsAnErrorNotLostSilently) {
  test::TempDir dir;
  const std::string model = (dir / "digits.model").string();
  ASSERT_EQ(run_cli("train --data digits --epochs 1 --quiet --save " + model, dir).status, 0);
  const std::string digits = std::string(DESCENT_DATA) + "/digits.csv";
  // Standard output closed: what the command printed is lost, so it must not exit 0. Predict's
  // 1,797 rows overflow stdio's buffer while printing; the others fail at the final flush.
  for (const std::string& command :
       {std::string("isa"), "evaluate --model " + model + " --data " + digits + " --json",
        "predict --model " + model + " --data " + digits,
        std::string("train --data iris --epochs 1 --json")}) {
    const CliRun r = run_cli(command + " >&-", dir);
    EXPECT_EQ(r.status, 2) << command;
    EXPECT_NE(r.err.find("cannot write to standard output"), std::string::npos)
        << command << ": " << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  if (!std::filesystem::exists("/dev/full")) return;  // the cases above still ran
  // A full device: the reason is given, and one output that fails does not stop the other.
  const CliRun full =
      run_cli("predict --model " + model + " --data " + digits + " >/dev/full", dir);
  EXPECT_EQ(full.status, 2);
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  const CliRun full_out =
      run_cli("predict --model " + model + " --data " + digits + " --out /dev/full", dir);
  EXPECT_EQ(full_out.status, 2);
  EXPECT_NE(full_out.err.find("--out: cannot write \"/dev/full\""), std::string::npos)
      << full_out.err;
  const auto history = dir / "h.csv";
  const CliRun save = run_cli(
      "train --data iris --epochs 2 --quiet --save /dev/full --history " + history.string(), dir);
  EXPECT_EQ(save.status, 2);
  EXPECT_NE(save.err.find("--save: cannot write \"/dev/full\""), std::string::npos) << save.err;
  EXPECT_NE(test::read_text(history).find("epoch"), std::string::npos);
  const CliRun checkpoint =
      run_cli("train --data iris --epochs 2 --quiet --checkpoint /dev/full", dir);
  // (Refused before training: a device takes no checkpoint that --resume could read.)
  EXPECT_EQ(checkpoint.status, 2);
  EXPECT_NE(checkpoint.err.find("--checkpoint /dev/full: not a regular file"), std::string::npos)
      << checkpoint.err;
}

// Standard output a pipe whose reader has gone (descent train ... | head): SIGPIPE must not end
// the run. Training goes on and saves its files (the same bytes as with a reader), and the lost
// output is reported with exit status 2.
CliRun run_cli_into_closed_pipe(const std::string& args, const test::TempDir& dir) {
  int fds[2];
  CliRun r;
  if (::pipe(fds) != 0) return r;
  ::close(fds[0]);  // no reader from the start: the first write fails, every time
  const auto err_file = dir / "stderr.txt";
  const std::string command =
      std::string(DESCENT_CLI) + " " + args + " 2>" + err_file.string() + " </dev/null";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[1]);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  int raw = 0;
  if (pid < 0 || ::waitpid(pid, &raw, 0) != pid) return r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : -1;
  r.err = test::read_text(err_file);
  return r;
}

TEST(Cli, APipeWithoutReaderLosesTheOutputNotTheTrainedModel) {
  test::TempDir dir;
  const auto path = [&dir](const char* name) { return (dir / name).string(); };
  const std::string train = "train --data iris --epochs 4 --hidden 8 --batch 16";
  ASSERT_EQ(run_cli(train + " --quiet --save " + path("ref.model"), dir).status, 0);
  const CliRun r = run_cli_into_closed_pipe(
      train + " --save " + path("m.model") + " --history " + path("h.csv"), dir);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("cannot write to standard output: Broken pipe"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_text(dir / "m.model"), test::read_text(dir / "ref.model"));
  const std::string history = test::read_text(dir / "h.csv");
  EXPECT_EQ(std::count(history.begin(), history.end(), '\n'), 5) << history;  // 4 epochs
  ASSERT_EQ(run_cli("train --data digits --epochs 1 --quiet --save " + path("d.model"), dir).status,
            0);
  const CliRun predict = run_cli_into_closed_pipe(
      "predict --model " + path("d.model") + " --data " + std::string(DESCENT_DATA) + "/digits.csv",
      dir);
  EXPECT_EQ(predict.status, 2) << predict.err;
  EXPECT_NE(predict.err.find("cannot write to standard output"), std::string::npos) << predict.err;
}

TEST(Cli, PredictGivesALabelAndAProbabilityPerOutputOfAMultiLabelModel) {
  test::TempDir dir;
  // Two inputs, two independent yes/no outputs: logit_j = x_j (weights I, biases 0).
  Network net(2, {{2, Activation::identity}});
  const float identity[] = {1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  net.set_parameters(identity);
  save_network(dir / "multi.model", net, Loss::bce_with_logits);
  test::write_text(dir / "x.csv", "a,b\n2,-1\n-3,0.5\n");
  const CliRun pred = run_cli(
      "predict --model " + (dir / "multi.model").string() + " --data " + (dir / "x.csv").string(),
      dir);
  ASSERT_EQ(pred.status, 0) << pred.err;
  const std::string expected = fmt::format(
      "prediction_1,probability_1,prediction_2,probability_2\n1,{:.6g},0,{:.6g}\n0,{:.6g},1,"
      "{:.6g}\n",
      1.0 / (1.0 + std::exp(-2.0)), 1.0 / (1.0 + std::exp(1.0)), 1.0 / (1.0 + std::exp(3.0)),
      1.0 / (1.0 + std::exp(-0.5)));
  EXPECT_EQ(pred.out, expected);
  // A softmax over one output would call every row class 0.
  Network one(2, {{1, Activation::identity}});
  save_network(dir / "one.model", one, Loss::bce_with_logits);
  const CliRun refused = run_cli("predict --model " + (dir / "one.model").string() + " --data " +
                                     (dir / "x.csv").string() + " --loss cross_entropy",
                                 dir);
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(refused.err.find("has one output; cross_entropy needs at least 2"), std::string::npos)
      << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  // evaluate says the same, not that the data's labels are beyond the model's one class.
  test::write_text(dir / "xy.csv", "a,b,y\n2,-1,1\n-3,0.5,0\n");
  const CliRun evaluated = run_cli("evaluate --model " + (dir / "one.model").string() + " --data " +
                                       (dir / "xy.csv").string() + " --loss cross_entropy",
                                   dir);
  EXPECT_EQ(evaluated.status, 2);
  EXPECT_NE(evaluated.err.find("has one output; cross_entropy needs at least 2"), std::string::npos)
      << evaluated.err;
}

TEST(Cli, APipeGivenAsAModelOrInitFileIsRefusedWithoutWaitingForAWriter) {
  test::TempDir dir;
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO for reading waits for a writer: a check after the open would never come.
  const std::string cases[] = {
      "predict --data iris --model " + fifo.string(),
      "evaluate --data iris --model " + fifo.string(),
      "train --data iris --hidden 3 --epochs 1 --init " + fifo.string(),
      "lr-find --data iris --hidden 3 --no-plots --init " + fifo.string(),
  };
  for (const std::string& args : cases) {
    const CliRun r = run_cli("timeout 20 " + std::string(DESCENT_CLI) + " " + args, dir, false);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("is not a regular file"), std::string::npos) << args << "\n" << r.err;
  }
}

TEST(Cli, BadDataFilesNameFileLineAndColumn) {
  struct BadFile {
    const char* content;
    const char* message;
    const char* extra;  // options
  };
  const BadFile cases[] = {
      {"", "the file is empty", ""},
      {"a,b,y\n", "no data rows after the header", ""},
      {"a,b,y\n1,2,0\n3,4\n", "bad.csv:3: expected 3 fields as in the header, got 2", ""},
      {"a,b,y\n1,2,0\n3,x,1\n", "bad.csv:3:3: column \"b\": expected a number, got \"x\"", ""},
      {"a,b,y\n1,nan,0\n3,4,1\n", "bad.csv:2:3: column \"b\": \"nan\" is not a finite float", ""},
      {"a,b,y\n1,2,0\n3,-inf,1\n", "bad.csv:3:3: column \"b\": \"-inf\" is not a finite float", ""},
      {"a\n1\n2\n", "bad.csv:1: the header has 1 column", ""},
      {"a,y\n1,0.5\n2,1\n", "bad.csv:2:3: target \"y\": class labels must be integers",
       "--task classification"},
      {"a,y\n1,-1\n2,1\n", "bad.csv:2:3: target \"y\": class labels must be integers",
       "--task classification"},
      {"a,y\n1,0\n2,0\n3,0\n", "classification needs at least 2 classes", ""},
      // What the count of fields comes from, where the file reads otherwise elsewhere.
      {"\"a,b\",c,y\n1,2,0\n3,4,1\n",
       "bad.csv:2: expected 4 fields as in the header, got 3 (the header has a quote", ""},
      {"a,b,y\n1,2,0\r3,4,1\n5,6,1\n",
       "bad.csv:2: expected 3 fields as in the header, got 5 (the line holds a CR", ""},
  };
  for (const BadFile& c : cases) {
    test::TempDir dir;
    test::write_text(dir / "bad.csv", c.content);
    const CliRun r =
        run_cli("train --data " + (dir / "bad.csv").string() + " " + c.extra + " --save " +
                    (dir / "m.model").string() + " --history " + (dir / "h.csv").string(),
                dir);
    EXPECT_EQ(r.status, 2) << c.content;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.content << "\nstderr: " << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "m.model"));
    EXPECT_FALSE(std::filesystem::exists(dir / "h.csv"));
  }
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

// A misspelt option points to the help of the command it was given to (it had always named
// train's).
TEST(Cli, ParseErrorsPointToTheirCommandsHelp) {
  test::TempDir dir;
  for (const std::string command : {"train", "sweep", "lr-find", "evaluate", "trace"}) {
    const CliRun r = run_cli(command + " --no-such-option", dir);
    EXPECT_EQ(r.status, 2) << command;
    EXPECT_NE(r.err.find("'descent " + command + " --help'"), std::string::npos) << r.err;
  }
  const CliRun none = run_cli("--no-such-option", dir);
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("'descent COMMAND --help'"), std::string::npos) << none.err;
  // An option given twice is named, in words.
  const CliRun twice = run_cli("train --epochs 1 --epochs 2", dir);
  EXPECT_EQ(twice.status, 2);
  EXPECT_NE(twice.err.find("--epochs is given 2 times: give it once\n"), std::string::npos)
      << twice.err;
  const CliRun list = run_cli("sweep --lr 0.1 --lr 0.2", dir);
  EXPECT_EQ(list.status, 2);
  EXPECT_NE(list.err.find("--lr is given 2 times: give it once (its lists are comma-separated"),
            std::string::npos)
      << list.err;
  // An option of two names is named by both, and without the lists' hint.
  const CliRun alias = run_cli("sweep --epochs 1 --epochs 0", dir);
  EXPECT_EQ(alias.status, 2);
  EXPECT_NE(alias.err.find("--max-epochs or --epochs is given 2 times: give it once\n"),
            std::string::npos)
      << alias.err;
}

TEST(Cli, TrainProfileSplitsTheStepTime) {
  test::TempDir dir;
  const CliRun r =
      run_cli("train --data iris --epochs 3 --hidden 8 --batch 16 --profile --json", dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("profile"));
  EXPECT_EQ(j["profile"]["steps"], j["steps"]);
  for (const char* key : {"data_seconds", "forward_seconds", "backward_seconds", "reduce_seconds",
                          "optimizer_seconds", "total_seconds"}) {
    ASSERT_TRUE(j["profile"].contains(key)) << key;
    EXPECT_GE(j["profile"][key].get<double>(), 0.0) << key;
  }
  EXPECT_GT(j["profile"]["forward_seconds"].get<double>(), 0.0);
  const CliRun text = run_cli("train --data iris --epochs 1 --hidden 8 --profile --quiet", dir);
  ASSERT_EQ(text.status, 0) << text.err;
  for (const char* phase : {"profile", "data", "forward", "backward", "reduce", "optimizer"})
    EXPECT_NE(text.out.find(phase), std::string::npos) << phase << "\n" << text.out;
}

// The flag is accepted, and on iris, where flushing has nothing to change, it changes nothing
// (what it does change is tested in Train.FlushDenormalsAppliesToEveryThreadOfAStep).
TEST(Cli, TrainAcceptsFlushDenormalsAndTrainsIrisToTheSameLoss) {
  test::TempDir dir;
  const std::string args = "train --data iris --epochs 5 --hidden 8 --lr 0.2 --batch 16 --json";
  const CliRun plain = run_cli(args, dir);
  const CliRun flushed = run_cli(args + " --flush-denormals", dir);
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(flushed.status, 0) << flushed.err;
  const auto a = nlohmann::json::parse(plain.out), b = nlohmann::json::parse(flushed.out);
  EXPECT_EQ(b["steps"], a["steps"]);
  EXPECT_NEAR(b["final_train_loss"].get<double>(), a["final_train_loss"].get<double>(), 1e-9);
}

TEST(Cli, SweepWritesResultsAndFiguresForEveryConfiguration) {
  test::TempDir dir;
  const auto out = dir / "sweep";
  const CliRun r = run_cli(
      "sweep --data iris --hidden 8 --batch 16,full --threads 1,2 --lr 0.05,50 --optimizer sgd "
      "--optimizer sgd:momentum=0.9,lr=7 --target-accuracy 0.9 --max-epochs 15 --out " +
          out.string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("[16/16]"), std::string::npos) << r.out;      // progress per run
  EXPECT_NE(r.out.find("s to target"), std::string::npos) << r.out;  // the table
  const auto j = nlohmann::json::parse(test::read_text(out / "results.json"));
  ASSERT_EQ(j["runs"].size(), 16u);  // 2 optimizers x 2 rates x 2 batches x 2 thread counts
  EXPECT_EQ(j["target"]["accuracy"], 0.9);
  std::size_t reached = 0, diverged = 0;
  for (const auto& run : j["runs"]) {
    for (const char* key : {"optimizer", "spec", "lr", "batch", "batch_size", "threads",
                            "stop_reason", "history", "samples_per_second", "seconds_to_target",
                            "epochs_to_target", "samples_to_target", "reached", "diverged"}) {
      ASSERT_TRUE(run.contains(key)) << key;
    }
    // --lr overrides the spec's own rate.
    const std::string spec = run["spec"];
    EXPECT_NE(spec.find(run["lr"].get<double>() == 50.0 ? "lr=50" : "lr=0.05"), std::string::npos)
        << spec;
    EXPECT_EQ(spec.find("lr=7"), std::string::npos) << spec;
    EXPECT_EQ(run["history"].size(), run["epochs"].get<std::size_t>());
    if (run["reached"].get<bool>()) {
      ++reached;
      EXPECT_EQ(run["stop_reason"], "target_reached");
      EXPECT_GT(run["seconds_to_target"].get<double>(), 0.0);
      EXPECT_GE(run["history"].back()["val_accuracy"].get<double>(), 0.9);
    } else {
      EXPECT_TRUE(run["seconds_to_target"].is_null());
    }
    diverged += run["diverged"].get<bool>() ? 1 : 0;
  }
  EXPECT_GT(reached, 0u);
  EXPECT_GT(diverged, 0u);  // lr = 50 is too large
  // The thread count changes the time, never the trajectory.
  for (std::size_t i = 0; i < 16; i += 2) {
    const auto& a = j["runs"][i];
    const auto& b = j["runs"][i + 1];
    ASSERT_EQ(a["threads"], 1);
    ASSERT_EQ(b["threads"], 2);
    ASSERT_EQ(a["history"].size(), b["history"].size());
    for (std::size_t e = 0; e < a["history"].size(); ++e)
      EXPECT_EQ(a["history"][e]["train_loss"], b["history"][e]["train_loss"]);
  }
  for (const char* figure : {"loss_curves.png", "throughput.png", "pareto.png"}) {
    const std::string png = test::read_text(out / figure);
    ASSERT_GT(png.size(), 1000u) << figure;
    EXPECT_EQ(png.substr(1, 3), "PNG") << figure;
  }
}

// Without --lr, a spec's own rate stands: sgd:lr=0.05 had run at the default rates instead,
// its name next to another rate in the table and results.json. And --threads 0 is every
// hardware thread, as for train (sweep had refused it).
TEST(Cli, SweepKeepsASpecsOwnRateUnlessLrIsGiven) {
  test::TempDir dir;
  const auto out = dir / "sweep";
  const CliRun r = run_cli(
      "sweep --data iris --hidden 8 --batch 16 --threads 0 --optimizer sgd:lr=0.05 --optimizer "
      "adam --target-accuracy 0.9 --max-epochs 2 --no-plots --quiet --out " +
          out.string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(test::read_text(out / "results.json"));
  std::vector<double> sgd_rates, adam_rates;
  for (const auto& run : j["runs"]) {
    (run["optimizer"] == "adam" ? adam_rates : sgd_rates).push_back(run["lr"].get<double>());
    EXPECT_EQ(run["threads"], hardware_threads());  // --threads 0: every hardware thread
    if (run["optimizer"] != "adam") {
      EXPECT_EQ(run["optimizer"], "sgd:lr=0.05");
      EXPECT_NE(run["spec"].get<std::string>().find("lr=0.05"), std::string::npos) << run["spec"];
    }
  }
  EXPECT_EQ(sgd_rates, std::vector<double>{0.05});
  EXPECT_EQ(adam_rates, (std::vector<double>{0.001, 0.01, 0.1}));
}

TEST(Cli, SweepTakesTrainsTaskLossAndEpochs) {
  // Whole-number targets read as class labels unless --task regression says otherwise.
  test::TempDir dir;
  std::string csv = "x1,x2,y\n";
  for (int i = 0; i < 60; ++i)
    csv += fmt::format("{},{},{}\n", i % 5, (i * 7) % 11, (i % 5) + ((i * 7) % 11) % 3);
  test::write_text(dir / "counts.csv", csv);
  const std::string sweep = "sweep --data " + (dir / "counts.csv").string() +
                            " --hidden 4 --batch 16 --threads 1 --lr 0.01 --target-loss 0.001 "
                            "--no-plots --quiet --epochs 2 --out ";
  const CliRun regression = run_cli(sweep + (dir / "r").string() + " --task regression", dir);
  ASSERT_EQ(regression.status, 0) << regression.err;
  const auto r = nlohmann::json::parse(test::read_text(dir / "r" / "results.json"));
  EXPECT_EQ(r["task"], "regression");
  EXPECT_EQ(r["loss"], "mse");
  EXPECT_EQ(r["model"], "2-4-1");
  EXPECT_EQ(r["max_epochs"], 2);
  EXPECT_LE(r["runs"][0]["epochs"].get<int>(), 2);
  const CliRun labels = run_cli(sweep + (dir / "c").string(), dir);
  ASSERT_EQ(labels.status, 0) << labels.err;
  const auto c = nlohmann::json::parse(test::read_text(dir / "c" / "results.json"));
  EXPECT_EQ(c["task"], "classification");
  EXPECT_EQ(c["loss"], "cross_entropy");
  EXPECT_EQ(c["model"], "2-4-7");
}

TEST(Cli, SweepRunsTheFullBatchOnceWhereLargerSizesMeanTheSame) {
  test::TempDir dir;
  // iris keeps 120 training rows: 500 and the default's 128 are the full batch too.
  const CliRun r = run_cli(
      "sweep --data iris --batch 32,full,500 --lr 0.1 --threads 1 "
      "--max-epochs 1 --target-loss 0.01 --no-plots --out " +
          (dir / "s").string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("--batch 500 would repeat batch full: all 120 training rows of iris"),
            std::string::npos)
      << r.out;
  const auto j = nlohmann::json::parse(test::read_text(dir / "s" / "results.json"));
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["batch_size"], 32);
  EXPECT_EQ(j["runs"][1]["batch_size"], 120);
  const CliRun defaults = run_cli(
      "sweep --data iris --max-epochs 1 --target-loss 0.01 --no-plots --quiet --threads 1 --lr 0.1 "
      "--out " +
          (dir / "d").string(),
      dir);
  ASSERT_EQ(defaults.status, 0) << defaults.err;
  EXPECT_EQ(nlohmann::json::parse(test::read_text(dir / "d" / "results.json"))["runs"].size(), 3u);
}

TEST(Cli, SweepRefusesBadOptionsBeforeWritingAnything) {
  const BadCase cases[] = {
      {"sweep --target-accuracy 0.9", "--out is required"},
      {"sweep --out OUT", "give one target"},
      {"sweep --out OUT --target-loss 0.1 --target-accuracy 0.9", "give one target"},
      {"sweep --out OUT --target-accuracy 1.5", "--target-accuracy 1.5 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --batch 8,0", "--batch 0 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --batch 8,,16", "an empty item"},
      {"sweep --out OUT --target-loss 0.1 --threads 2000", "--threads 2000 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --lr 0.1,-1", "--lr -1 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --lr abc", "--lr \"abc\" is not a number"},
      {"sweep --out OUT --target-loss 0.1 --optimizer adamx", "unknown optimizer \"adamx\""},
      {"sweep --out OUT --target-loss 0.1 --optimizer adam:beta1=2", "beta1=2 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --optimizer adam:lr=abc", "lr=abc is not a number"},
      {"sweep --out OUT --target-loss 0.1 --max-epochs 0", "--max-epochs 0 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --time-budget 0", "--time-budget 0 is invalid"},
      {"sweep --out OUT --target-loss 0.1 --data nosuchset", "unknown dataset \"nosuchset\""},
      {"sweep --out OUT --target-accuracy 0.5 --data diabetes", "regression set"},
      {"sweep --out OUT --target-accuracy 0.5 --val-fraction 0", "needs validation data"},
      {"sweep --out OUT --target-loss 0.1 --batch 8,full,8", "--batch: 8 repeats 8"},
      {"sweep --out OUT --target-loss 0.1 --threads 1,2,1", "--threads: 1 repeats 1"},
      {"sweep --out OUT --target-loss 0.1 --lr 0.1,0.10", "--lr: 0.10 repeats 0.1"},
      {"sweep --out OUT --target-loss 0.1 --lr 0.1 --optimizer adam --optimizer adam:lr=0.5",
       "--optimizer: adam:lr=0.5 repeats adam"},
      {"sweep --out OUT --target-loss 0.1 --optimizer sgd --optimizer sgd:momentum=0",
       "--optimizer: sgd:momentum=0 repeats sgd"},
      {"sweep --out OUT --target-loss 0.1 --optimizer adam --optimizer adam",
       "--optimizer: adam repeats adam"},
      // An alias is what it stands for.
      {"sweep --out OUT --target-loss 0.1 --lr 0.1 --optimizer sgd:momentum=0.9 --optimizer "
       "momentum",
       "--optimizer: momentum repeats sgd:momentum=0.9"},
      {"sweep --out OUT --target-loss 0.1 --optimizer nesterov --optimizer "
       "sgd:momentum=0.9,nesterov=true",
       "--optimizer: sgd:momentum=0.9,nesterov=true repeats nesterov"},
      {"sweep --out OUT --target-loss -1", "--target-loss -1 is invalid: a loss is never below 0"},
      // One rate of a swept optimizer, given again as a spec with its own rate.
      {"sweep --out OUT --target-loss 0.1 --optimizer sgd --optimizer sgd:lr=0.01",
       "--optimizer: sgd:lr=0.01 repeats sgd (at lr 0.01)"},
      // The losses train refuses, refused before --out is made.
      {"sweep --out OUT --target-loss 0.1 --data iris --loss bce_with_logits",
       "bce_with_logits on class labels needs 2 classes"},
      {"sweep --out OUT --target-loss 0.1 --data diabetes --loss bce_with_logits",
       "bce_with_logits needs targets in [0, 1]"},
      {"sweep --out OUT --target-loss 0.1 --data diabetes --loss cross_entropy",
       "cross_entropy needs class labels"},
      {"sweep --out OUT --target-loss 0.1 --loss hinge", "unknown loss \"hinge\""},
      {"sweep --out OUT --target-loss 0.1 --task guess", "unknown task \"guess\""},
      {"sweep --out OUT --target-loss 0.1 --epochs 0", "--max-epochs 0 is invalid"},
  };
  expect_refused_before_writing(cases);
  // --out naming a file is refused, and the file kept.
  test::TempDir dir;
  test::write_text(dir / "file", "keep");
  const CliRun r = run_cli("sweep --target-loss 0.1 --out " + (dir / "file").string(), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("that is a file"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_text(dir / "file"), "keep");
}

TEST(Cli, TraceWritesATrajectoryPerOptimizerTheEndInJsonAndAFigure) {
  test::TempDir dir;
  const auto out = dir / "trace";
  const CliRun r = run_cli(
      "trace --function double_well --optimizer sgd:lr=0.02 --optimizer sgd:lr=0.02,momentum=0.9 "
      "--start 2 --steps 400 --grad-tol 1e-5 --json --out " +
          out.string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["function"], "double_well");
  ASSERT_EQ(j["runs"].size(), 2u);
  // Plain descent stops in the local minimum near 1.13; momentum rolls on to the global one.
  EXPECT_NEAR(j["runs"][0]["final_point"][0].get<double>(), 1.13, 0.01);
  EXPECT_NEAR(j["runs"][1]["final_point"][0].get<double>(), -1.30, 0.01);
  EXPECT_EQ(j["runs"][1]["stop_reason"], "converged");
  // The trajectory: the start and every step, ending where the JSON says.
  const std::string csv = test::read_text(out / j["runs"][1]["csv"].get<std::string>());
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,value,grad_norm,lr,x0");
  const std::size_t lines = static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n'));
  EXPECT_EQ(lines, j["runs"][1]["steps"].get<std::size_t>() + 2);  // header, start, steps
  EXPECT_NE(csv.find("\n0,6,21,0,2\n"), std::string::npos) << csv.substr(0, 200);
  const auto doc = nlohmann::json::parse(test::read_text(out / "trace.json"));
  EXPECT_EQ(doc["kind"], "trace");
  EXPECT_EQ(doc["curve"]["x"].size(), doc["curve"]["value"].size());
  const std::string png = test::read_text(out / "trace.png");
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

TEST(Cli, TraceDrawsTwoDimensionalPathsOnContours) {
  test::TempDir dir;
  const auto out = dir / "h";
  const CliRun r = run_cli(
      "trace --function himmelblau --optimizer adam:lr=0.1 --optimizer sgd:lr=0.01 --start 0,0 "
      "--steps 300 --out " +
          out.string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("himmelblau from (0, 0)"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(test::read_text(out / "trace.json"));
  EXPECT_EQ(doc["minimizers"].size(), 4u);
  EXPECT_EQ(doc["grid"]["value"].size(), doc["grid"]["y"].size());
  EXPECT_EQ(doc["grid"]["value"][0].size(), doc["grid"]["x"].size());
  EXPECT_EQ(test::read_text(out / "trace.png").substr(1, 3), "PNG");
  // Without --out nothing is written, and the summary still prints.
  const CliRun text = run_cli("trace --function booth --optimizer sgd:lr=0.05 --steps 2000", dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("converged"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("minimum 0 at (1, 3)"), std::string::npos) << text.out;
}

// An --out whose name starts with '-' is a directory like any other: the figure script gets it
// as a path (./-t2/...), not as options, and the command to draw it later is one a shell runs.
TEST(Cli, AnOutDirectoryNamedLikeAnOptionGetsItsFigure) {
  test::TempDir dir;
  const std::string cd = "cd " + dir.path().string() + " && " + std::string(DESCENT_CLI);
  const CliRun r = run_cli(cd + " trace --function parabola --out=-t2", dir, false);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(test::read_text(dir / "-t2" / "trace.png").substr(1, 3), "PNG");
  const CliRun sweep = run_cli(cd + " sweep --data iris --hidden 8 --target-loss 0.5 --lr 0.1 "
                                    "--epochs 3 --quiet --out=-sw",
                               dir, false);
  ASSERT_EQ(sweep.status, 0) << sweep.err;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "-sw" / "results.json"));
  // Not drawn: the command it prints draws it, run as printed.
  const CliRun later = run_cli("cd " + dir.path().string() + " && DESCENT_PYTHON=/bin/false " +
                                   std::string(DESCENT_CLI) + " lr-demo --out \"-my demo\"",
                               dir, false);
  ASSERT_EQ(later.status, 1) << later.err;
  const std::string with = "draw it later with: ";
  const auto at = later.err.find(with);
  ASSERT_NE(at, std::string::npos) << later.err;
  const std::string command = later.err.substr(at + with.size());
  EXPECT_NE(command.find("'./-my demo/lr_demo.json'"), std::string::npos) << command;
  const std::string redraw = command.substr(command.find(' '));  // Debian's python3 instead
  const CliRun drawn =
      run_cli("cd " + dir.path().string() + " && /usr/bin/python3" + redraw, dir, false);
  ASSERT_EQ(drawn.status, 0) << drawn.err;
  EXPECT_EQ(test::read_text(dir / "-my demo" / "lr_demo.png").substr(1, 3), "PNG");
}

TEST(Cli, LrDemoShowsEveryRegimeOfTheLearningRate) {
  test::TempDir dir;
  const auto out = dir / "demo";
  const CliRun r = run_cli("lr-demo --json --out " + out.string(), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["bound"], 1.0);
  ASSERT_EQ(j["runs"].size(), 4u);
  std::map<std::string, nlohmann::json> runs;
  for (const auto& run : j["runs"]) runs[run["label"].get<std::string>()] = run;
  const double crawl = runs["crawls"]["final_point"][0].get<double>();
  EXPECT_GT(std::abs(crawl - 3.0), 0.5);  // still far after 30 steps
  EXPECT_EQ(runs["right"]["stop_reason"], "converged");
  EXPECT_LT(std::abs(runs["oscillates"]["final_point"][0].get<double>() - 3.0), 0.05);
  EXPECT_EQ(runs["diverges"]["stop_reason"], "diverged");
  EXPECT_GT(runs["diverges"]["lr"].get<double>(), j["bound"].get<double>());
  EXPECT_LT(runs["oscillates"]["lr"].get<double>(), j["bound"].get<double>());
  // The oscillating rate lands on alternate sides of w = 3.
  const std::string csv = test::read_text(out / "lr_oscillates.csv");
  EXPECT_NE(csv.find("\n1,"), std::string::npos);
  EXPECT_EQ(test::read_text(out / "lr_demo.png").substr(1, 3), "PNG");
  const CliRun text = run_cli("lr-demo --no-plots --out " + out.string(), dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("lr < 2/L = 1"), std::string::npos) << text.out;
}

// When the figure cannot be drawn the data files are still written, the command exits 1,
// and the message says why: python missing, the script's own error (exit 2, or exit 3 for
// matplotlib missing), and how to draw the figure later.
TEST(Cli, AFigureThatCannotBeDrawnSaysWhyAndKeepsTheData) {
  test::TempDir dir;
  const auto out = dir / "lr";
  const auto script = dir / "fails.py";
  test::write_text(script,
                   "import sys\nprint('fails.py: bad input', file=sys.stderr)\n"
                   "sys.exit(2)\n");
  const std::string cli = std::string(DESCENT_CLI) + " lr-demo --out " + out.string();

  const CliRun no_python =
      run_cli("DESCENT_PYTHON=" + (dir / "no-such-python").string() + " " + cli, dir, false);
  EXPECT_EQ(no_python.status, 1) << no_python.err;
  EXPECT_NE(no_python.err.find("no-such-python could not be run"), std::string::npos)
      << no_python.err;
  EXPECT_NE(no_python.err.find("lr_demo.json is complete; draw it later with:"), std::string::npos)
      << no_python.err;
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "lr_demo.json"));
  EXPECT_FALSE(std::filesystem::exists(out / "lr_demo.png"));

  const CliRun bad = run_cli("DESCENT_PLOT_TRACE=" + script.string() + " " + cli, dir, false);
  EXPECT_EQ(bad.status, 1) << bad.err;
  EXPECT_NE(bad.err.find("fails.py: bad input"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("exited with 2 (its message is above)"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("apt-get"), std::string::npos) << bad.err;

  // A python that exits 0 without drawing is no figure (the summary named lr_demo.png).
  const CliRun silent = run_cli("DESCENT_PYTHON=/bin/true " + cli, dir, false);
  EXPECT_EQ(silent.status, 1) << silent.err;
  EXPECT_NE(silent.err.find("exited with 0 but did not write " + (out / "lr_demo.png").string()),
            std::string::npos)
      << silent.err;
  EXPECT_EQ(silent.out.find("lr_demo.png"), std::string::npos) << silent.out;

  // Debian's python3 without its site packages has no matplotlib: the script says so.
  const auto bare = dir / "bare-python";
  test::write_text(bare, "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n");
  std::filesystem::permissions(bare, std::filesystem::perms::owner_all);
  const CliRun missing = run_cli("DESCENT_PYTHON=" + bare.string() + " " + cli, dir, false);
  EXPECT_EQ(missing.status, 1) << missing.err;
  EXPECT_NE(missing.err.find("install python3-matplotlib"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("exited with 3"), std::string::npos) << missing.err;
}

TEST(Cli, LrFindSuggestsARateAndLeavesNoModelBehind) {
  test::TempDir dir;
  const auto out = dir / "lf";
  const CliRun r = run_cli(
      "lr-find --data iris --hidden 8 --batch 16 --steps 60 --start-lr 1e-5 --end-lr 100 "
      "--json --out " +
          out.string(),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "lr_find");
  const double suggested = j["suggested_lr"].get<double>();
  EXPECT_GT(suggested, 1e-5);
  EXPECT_LT(suggested, 100.0);
  EXPECT_LE(suggested, j["min_loss_lr"].get<double>());
  const std::string csv = test::read_text(out / "lr_find.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,lr,loss,smoothed_loss");
  EXPECT_EQ(test::read_text(out / "lr_find.png").substr(1, 3), "PNG");
  // The summary says which optimizer, model and batch the rate is for, as train takes them
  // (train's default optimizer is plain sgd, lr-find's sgd with momentum).
  const CliRun text = run_cli(
      "lr-find --data iris --hidden 8 --batch 16 --steps 60 --start-lr 1e-5 --end-lr 100 "
      "--no-plots",
      dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(
      text.out.find(fmt::format(
          "train with --data iris --hidden 8 --batch 16 --optimizer sgd:momentum=0.9 --lr {:.3g}",
          suggested)),
      std::string::npos)
      << text.out;
}

// A file the command would write that cannot be (a directory in its way) stops it before it
// writes any of the others.
TEST(Cli, LrFindStartsFromAnInitFileOrSchemeAndSaysWhenNothingFell) {
  test::TempDir dir;
  const auto model = dir / "iris.bin";
  const CliRun trained =
      run_cli("train --data iris --hidden 8 --epochs 3 --quiet --save " + model.string(), dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  // From the model: its weights and standardisation; the train line repeats --init.
  const std::string test =
      "lr-find --data iris --hidden 8 --batch 16 --steps 60 --start-lr "
      "1e-5 --end-lr 100 --no-plots --init ";
  const CliRun from_model = run_cli(test + model.string(), dir);
  ASSERT_EQ(from_model.status, 0) << from_model.err;
  const CliRun fresh = run_cli(test + "auto", dir);
  ASSERT_EQ(fresh.status, 0) << fresh.err;
  // The first batch's loss: the trained model's is lower than fresh weights'.
  auto first_loss = [](const std::string& out) {
    const auto header = out.find("smoothed\n");
    EXPECT_NE(header, std::string::npos) << out;
    std::istringstream row(out.substr(header + 9));
    double lr = 0.0, loss = 0.0;
    row >> lr >> loss;
    return loss;
  };
  EXPECT_LT(first_loss(from_model.out), 0.8 * first_loss(fresh.out)) << from_model.out << "\n"
                                                                     << fresh.out;
  // A model of other layers, and --no-standardize with a model, are refused.
  const CliRun other =
      run_cli("lr-find --data iris --hidden 16 --no-plots --init " + model.string(), dir);
  EXPECT_EQ(other.status, 2);
  EXPECT_NE(other.err.find("the model is 4-8-3 relu"), std::string::npos) << other.err;
  const CliRun raw = run_cli(test + model.string() + " --no-standardize", dir);
  EXPECT_EQ(raw.status, 2);
  EXPECT_NE(raw.err.find("brings its own standardisation"), std::string::npos) << raw.err;
  // A scheme by name, and raw features: both repeated in the train line.
  const CliRun scheme = run_cli(test + "xavier_uniform --no-standardize", dir);
  ASSERT_EQ(scheme.status, 0) << scheme.err;
  EXPECT_NE(scheme.out.find("--init xavier_uniform --batch 16 --no-standardize --optimizer"),
            std::string::npos)
      << scheme.out;
  // A loss that never falls (a regression target the zero network already fits) gets no
  // suggestion: null in JSON, said in words.
  std::string csv = "x,y\n";
  for (int i = 0; i < 40; ++i) csv += std::to_string(i % 7) + ",0\n";
  test::write_text(dir / "zeros.csv", csv);
  test::write_text(dir / "zeros.f32", std::string(2 * sizeof(float), '\0'));  // weight, bias
  const std::string flat = "lr-find --data " + (dir / "zeros.csv").string() +
                           " --task regression --hidden none --batch 8 --steps 30 --no-plots "
                           "--init " +
                           (dir / "zeros.f32").string();
  const CliRun json = run_cli(flat + " --json", dir);
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_TRUE(nlohmann::json::parse(json.out)["suggested_lr"].is_null()) << json.out;
  const CliRun words = run_cli(flat, dir);
  ASSERT_EQ(words.status, 0) << words.err;
  EXPECT_NE(words.out.find("no suggestion: the smoothed loss never fell"), std::string::npos)
      << words.out;
  EXPECT_EQ(words.out.find("train with"), std::string::npos) << words.out;
  // Weights whose first loss already overflows: the weights are at fault, not a rate (a lower
  // --start-lr would not help), so nothing is suggested.
  const std::vector<float> huge(4 * 3 + 3 + 3 * 3 + 3, 3e38f);
  test::write_text(dir / "huge.f32",
                   std::string(reinterpret_cast<const char*>(huge.data()), huge.size() * 4));
  const CliRun overflow = run_cli(
      "lr-find --data iris --hidden 3 --no-plots --init " + (dir / "huge.f32").string(), dir);
  EXPECT_EQ(overflow.status, 2) << overflow.out;
  EXPECT_NE(overflow.err.find("at the start, before any update: the initial weights or the data "
                              "overflow"),
            std::string::npos)
      << overflow.err;
}

TEST(Cli, CommandsWithAnOutputDirectoryWriteNothingWhenOneFileCannotBe) {
  const std::pair<std::string, std::string> cases[] = {
      {"trace --function parabola --steps 5 --no-plots", "trace.json"},
      {"lr-demo --no-plots", "lr_demo.json"},
      {"lr-find --data iris --hidden 4 --steps 10 --no-plots", "lr_find.json"},
      {"sweep --data iris --hidden 4 --max-epochs 1 --target-loss 0.1 --batch 32 --no-plots",
       "results.json"},
      {"sweep --data iris --hidden 4 --max-epochs 1 --target-loss 0.1 --batch 32", "pareto.png"},
  };
  for (const auto& [command, blocked] : cases) {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "out" / blocked);
    const CliRun r = run_cli(command + " --out " + (dir / "out").string(), dir);
    EXPECT_EQ(r.status, 2) << command << "\n" << r.err;
    EXPECT_NE(r.err.find(blocked + ": it is a directory"), std::string::npos) << r.err;
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "out"))
      ++entries;
    EXPECT_EQ(entries, 1u) << command << ": something was written";
  }
}

TEST(Cli, AnOutputDirectoryMayNotOverwriteTheCommandsInputs) {
  const std::string iris = test::read_text(std::string(DESCENT_DATA) + "/iris.csv");
  // (The weights of lr-find's 4-128-64-3 network on iris, zeros.)
  const std::string weights((4 * 128 + 128 + 128 * 64 + 64 + 64 * 3 + 3) * sizeof(float), '\0');
  const std::tuple<std::string, std::string, std::string> cases[] = {
      {"lr_find.csv", "lr-find --no-plots --data IN --out DIR", iris},
      {"lr_find.json", "lr-find --no-plots --data iris --init IN --out DIR", weights},
      {"results.json", "sweep --no-plots --target-loss 0.1 --data IN --out DIR", iris},
  };
  for (const auto& [name, command, content] : cases) {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "out");
    const auto input = dir / "out" / name;
    test::write_text(input, content);
    std::string args = command;
    args.replace(args.find("IN"), 2, input.string());
    args.replace(args.find("DIR"), 3, (dir / "out").string());
    const CliRun r = run_cli(args, dir);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_NE(r.err.find(name + " there is the --"), std::string::npos) << r.err;
    EXPECT_EQ(test::read_text(input), content) << args;
  }
}

TEST(Cli, TraceLrDemoAndLrFindRefuseBadOptionsBeforeWritingAnything) {
  const BadCase cases[] = {
      {"trace --steps 10", "--function is required"},
      {"trace --function nosuch --out OUT", "unknown function \"nosuch\""},
      {"trace --function booth --start 1 --out OUT", "booth takes 2 coordinates, got 1"},
      {"trace --function booth --start 1,x --out OUT", "--start"},
      {"trace --function booth --start 1,,2 --out OUT", "an empty item"},
      {"trace --function booth --start 1,1e39 --out OUT", "coordinate 1 (1e+39) is beyond"},
      {"trace --function booth --steps 0 --out OUT", "--steps 0 is invalid"},
      // Without --out too: sgd at lr=1 on the parabola never converges, and 10^11 steps
      // would run for hours.
      {"trace --function parabola --optimizer sgd:lr=1 --steps 100000000000",
       "--steps 100000000000 is invalid: at most 100000000"},
      {"trace --function booth --grad-tol -1 --out OUT", "--grad-tol -1 is invalid"},
      {"trace --function booth --optimizer adam:beta1=2 --out OUT", "beta1=2 is invalid"},
      {"trace --function quadratic:condition=0 --out OUT", "condition=0 is invalid"},
      {"trace --function rosenbrock:dim=100000 --steps 1000000 --out OUT", "take fewer steps"},
      {"lr-demo --steps 0 --out OUT", "--steps 0 is invalid"},
      {"lr-find --start-lr 0 --out OUT", "--start-lr 0 is invalid"},
      {"lr-find --start-lr 1 --end-lr 0.1 --out OUT", "--end-lr 0.1 is invalid"},
      {"lr-find --steps 1 --out OUT", "--steps 1 is invalid"},
      {"lr-find --batch 0 --out OUT", "--batch 0 is invalid"},
      {"lr-find --data nosuchset --out OUT", "unknown dataset \"nosuchset\""},
      {"lr-find --optimizer adamx --out OUT", "unknown optimizer \"adamx\""},
      {"lr-find --val-fraction 1 --out OUT", "--val-fraction 1 is invalid"},
      {"lr-find --optimizer sgd:lr=0.1 --out OUT", "lr= has no effect here"},
      {"lr-find --start-lr 1e-60 --end-lr 1e-40 --out OUT", "--start-lr 1e-60 is invalid"},
      {"lr-find --end-lr 1e39 --out OUT", "--end-lr 1e39 is invalid: at most 3.4e38"},
      {"lr-find --data iris --loss bce_with_logits --out OUT",
       "bce_with_logits on class labels needs 2 classes"},
      {"lr-find --data diabetes --loss cross_entropy --out OUT",
       "cross_entropy needs class labels"},
      {"lr-find --init kaiming --out OUT", "unknown initialisation \"kaiming\""},
      {"lr-find --init nosuch/file.bin --out OUT", "nosuch/file.bin"},
      {"sweep --data iris --target-loss 0.1 --hidden 65536,65536 --out OUT/a/b",
       "the most descent supports"},
      {"trace --function rosenbrock --start 1e30,1e30 --out OUT", "at the start"},
      {"sweep --data iris --target-loss 0.1 --lr '' --out OUT", "sweep --lr: the value is empty"},
  };
  expect_refused_before_writing(cases);
}

}  // namespace
}  // namespace descent
