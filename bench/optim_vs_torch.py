#!/usr/bin/python3
"""descent's optimizer step against torch.optim's, in one run, one thread each.

Runs descent_bench's optim/step suite (threads:1) and peers/torch_optim.py, alternating
them --rounds times so that both see the same machine, and prints the medians and the ratio
torch / descent for every optimizer at 269,322 and 10,000,000 parameters. Bad options exit 2;
a failed or incomplete descent_bench or torch run exits 1 with its last words.

  /usr/bin/python3 bench/optim_vs_torch.py [--bench build/release/bench/descent_bench] [--rounds 3]
"""
import argparse
import os
import statistics
import sys
import tempfile

from gbench import InputError, RunError, load, run

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "nadam", "radam", "adamax",
         "adadelta"]
SIZES = (269322, 10000000)  # the suite's parameter counts (bench/descent_bench.cpp)


def real_times(path, what):
    """Each benchmark's real times by (optimizer, parameters), from optim/step/OPT/params:N."""
    try:
        runs = load(path)[1]
    except InputError as e:
        raise RunError(f"{what} wrote no usable JSON: {e}") from e
    times = {}
    for name, reps in runs.items():
        try:
            _, _, opt, params = name.split("/")[:4]
            times.setdefault((opt, int(params.split(":")[1])), []).extend(
                r["real_time"] for r in reps)
        except (KeyError, IndexError, ValueError) as e:
            raise RunError(f"{what} wrote a result this script cannot read ({name}: "
                           f"{type(e).__name__} {e})") from e
    return times


def run_descent(bench, out):
    run([bench, "--benchmark_filter=^optim/step/.*/threads:1/", "--benchmark_min_time=0.3",
         "--benchmark_repetitions=3", "--benchmark_format=json", f"--benchmark_out={out}",
         "--benchmark_out_format=json"], bench)
    return real_times(out, bench)


def run_torch(out):
    run(["/usr/bin/python3", os.path.join(HERE, "peers", "torch_optim.py"), "--threads", "1",
         "--repetitions", "3", "--json", out], "torch_optim.py")
    return real_times(out, "torch_optim.py")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default="build/release/bench/descent_bench")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds} must be >= 1")
    if not os.path.isfile(args.bench) or not os.access(args.bench, os.X_OK):
        parser.error(f"{args.bench} is not an executable file (tools/run bench builds it)")
    try:
        compare(args)
    except RunError as e:
        print(f"optim_vs_torch.py: {e}", file=sys.stderr)
        return 1
    return 0


def add(times, got, side):
    """Adds one run's times to `times`, after checking it has every optimizer and size."""
    for key in [(opt, params) for opt in NAMES for params in SIZES]:
        if key not in got:
            raise RunError(f"{side} gave no optim/step/{key[0]}/params:{key[1]} result on 1 "
                           "thread")
    for k, v in got.items():
        times.setdefault(k, []).extend(v)


def compare(args):
    descent, torch = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
            add(descent, run_descent(args.bench, os.path.join(tmp, "d.json")), "descent_bench")
            add(torch, run_torch(os.path.join(tmp, "t.json")), "torch_optim.py")
    print(f"{'optimizer':10s} {'params':>9s} {'descent us':>12s} {'torch us':>12s} "
          f"{'torch/descent':>14s}")
    for opt in NAMES:
        for params in SIZES:
            d, t = descent[(opt, params)], torch[(opt, params)]
            dm, tm = statistics.median(d), statistics.median(t)
            print(f"{opt:10s} {params:9d} {dm:12.1f} {tm:12.1f} {tm / dm:13.2f}x"
                  f"   (descent {min(d):.1f}-{max(d):.1f}, torch {min(t):.1f}-{max(t):.1f})")


if __name__ == "__main__":
    sys.exit(main())
