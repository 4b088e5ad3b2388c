#!/usr/bin/python3
"""descent's optimizer step against torch.optim's, in one run, one thread each.

Runs descent_bench's optim/step suite (threads:1) and peers/torch_optim.py, alternating
them --rounds times so that both see the same machine, and prints the medians and the ratio
torch / descent for every optimizer at 269,322 and 10,000,000 parameters.

  /usr/bin/python3 bench/optim_vs_torch.py [--bench build/release/bench/descent_bench] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "nadam", "radam", "adamax",
         "adadelta"]


def run_descent(bench, out):
    subprocess.run([bench, "--benchmark_filter=^optim/step/.*/threads:1/",
                    "--benchmark_min_time=0.3", "--benchmark_repetitions=3",
                    "--benchmark_format=json", f"--benchmark_out={out}",
                    "--benchmark_out_format=json"], check=True, stdout=subprocess.DEVNULL)
    times = {}
    for b in json.load(open(out))["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        _, _, opt, params = b["name"].split("/")[:4]
        params = int(params.split(":")[1])
        times.setdefault((opt, params), []).append(b["real_time"])
    return times


def run_torch(out):
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "peers", "torch_optim.py"),
                    "--threads", "1", "--repetitions", "3", "--json", out], check=True,
                   stdout=subprocess.DEVNULL)
    times = {}
    for b in json.load(open(out))["benchmarks"]:
        _, _, opt, params = b["name"].split("/")[:4]
        times.setdefault((opt, int(params.split(":")[1])), []).append(b["real_time"])
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default="build/release/bench/descent_bench")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(args.bench):
        sys.exit(f"optim_vs_torch.py: {args.bench} not found (tools/run bench builds it)")
    descent, torch = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
            for k, v in run_descent(args.bench, os.path.join(tmp, "d.json")).items():
                descent.setdefault(k, []).extend(v)
            for k, v in run_torch(os.path.join(tmp, "t.json")).items():
                torch.setdefault(k, []).extend(v)
    print(f"{'optimizer':10s} {'params':>9s} {'descent us':>12s} {'torch us':>12s} {'torch/descent':>14s}")
    for opt in NAMES:
        for params in (269322, 10000000):
            d, t = descent[(opt, params)], torch[(opt, params)]
            dm, tm = statistics.median(d), statistics.median(t)
            print(f"{opt:10s} {params:9d} {dm:12.1f} {tm:12.1f} {tm / dm:13.2f}x"
                  f"   (descent {min(d):.1f}-{max(d):.1f}, torch {min(t):.1f}-{max(t):.1f})")


if __name__ == "__main__":
    main()
