#!/usr/bin/python3
"""Times one torch.optim step over a flat float32 parameter of 269,322 and 10,000,000 values.

The same optimizers, defaults and sizes as descent_bench's optim/step suite, so the two can
be set side by side (bench/optim_vs_torch.py does). Uses Debian's python3-torch.

  torch_optim.py [--threads 1] [--repetitions 5] [--json OUT.json]

--json writes Google Benchmark's JSON format (real_time in microseconds per step, plus a
GBps counter), so tools that read descent_bench's JSON read this too.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

# name: (factory, floats read + written per parameter), as in descent_bench.
OPTIMIZERS = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=1e-3), 3),
    "momentum": (lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9), 5),
    "adagrad": (lambda p: torch.optim.Adagrad(p), 5),
    "rmsprop": (lambda p: torch.optim.RMSprop(p), 5),
    "adam": (lambda p: torch.optim.Adam(p), 7),
    "adamw": (lambda p: torch.optim.AdamW(p), 7),
    "nadam": (lambda p: torch.optim.NAdam(p), 7),
    "radam": (lambda p: torch.optim.RAdam(p), 7),
    "adamax": (lambda p: torch.optim.Adamax(p), 7),
    "adadelta": (lambda p: torch.optim.Adadelta(p), 7),
}
SIZES = [269322, 10000000]


def time_step(name, n, repetitions):
    factory, _ = OPTIMIZERS[name]
    generator = torch.Generator().manual_seed(4)
    param = torch.nn.Parameter(torch.rand(n, generator=generator) * 2 - 1)
    param.grad = torch.rand(n, generator=generator) * 2 - 1
    optimizer = factory([param])
    for _ in range(3):
        optimizer.step()
    # Steps per timed round: about 0.2 s of work.
    start = time.perf_counter()
    optimizer.step()
    once = max(time.perf_counter() - start, 1e-6)
    steps = max(1, int(0.2 / once))
    rounds = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        rounds.append((time.perf_counter() - start) / steps)
    return rounds


def check_output(parser, option, path):
    """Exit 2 before any timing when `path` (if given) cannot be written."""
    if not path:
        return
    if os.path.isdir(path):
        parser.error(f"{option} {path} is a directory")
    if not os.path.isdir(os.path.dirname(path) or "."):
        parser.error(f"{option} {path}: the directory {os.path.dirname(path)} does not exist")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated optimizer names")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if not 1 <= args.threads <= 1024:
        parser.error(f"--threads {args.threads} must be in [1, 1024]")
    if args.repetitions < 1:
        parser.error(f"--repetitions {args.repetitions} must be >= 1")
    unknown = [n for n in args.only.split(",") if args.only and n not in OPTIMIZERS]
    if unknown:
        parser.error(f"--only {args.only}: unknown optimizer {', '.join(unknown)} "
                     f"(known: {', '.join(OPTIMIZERS)})")
    check_output(parser, "--json", args.json)
    torch.set_num_threads(args.threads)
    names = [n for n in OPTIMIZERS if not args.only or n in args.only.split(",")]
    benchmarks = []
    print(f"torch {torch.__version__}, {args.threads} thread(s): median of "
          f"{args.repetitions} rounds, us per step")
    for name in names:
        for n in SIZES:
            rounds = time_step(name, n, args.repetitions)
            median = statistics.median(rounds)
            gbps = OPTIMIZERS[name][1] * 4 * n / median * 1e-9
            print(f"  {name:9s} {n:9d}  {median * 1e6:10.1f} us  "
                  f"(range {min(rounds) * 1e6:.1f}-{max(rounds) * 1e6:.1f})  {gbps:6.1f} GB/s")
            sys.stdout.flush()
            for r in rounds:
                benchmarks.append({
                    "name": f"optim/step/{name}/params:{n}/threads:{args.threads}/real_time",
                    "run_type": "iteration", "iterations": 1, "real_time": r * 1e6,
                    "cpu_time": r * 1e6, "time_unit": "us",
                    "GBps": OPTIMIZERS[name][1] * 4 * n / r * 1e-9, "label": name})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"context": {"library": "torch " + torch.__version__,
                                   "threads": args.threads}, "benchmarks": benchmarks}, f, indent=1)


if __name__ == "__main__":
    main()
