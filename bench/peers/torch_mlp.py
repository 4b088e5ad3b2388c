#!/usr/bin/python3
"""Trains PyTorch's 784-256-256-10 ReLU MLP for one epoch of MNIST-shaped data and prints samples/s.

The peer of descent_bench's train_step suite: the same model (nn.Linear layers, softmax
cross-entropy), the same optimizers (sgd_momentum: SGD(lr=0.01, momentum=0.9); adam:
Adam(lr=0.001)), data of the same shape (60,000 rows of 784 values in [0, 1], 10 classes),
walked in a shuffled order in batches of B rows, each batch gathered (x[index]) as descent
gathers it. A warm-up of a few steps, then one epoch timed per repetition.
Threads: torch's defaults unless --threads is given (on the 2-core development machine its
default intra-op threads with OpenBLAS's own 2 were faster than torch.set_num_threads(2)).
Uses Debian's python3-torch.

  torch_mlp.py --optimizer sgd_momentum|adam --batch B [--rows 60000] [--threads T]
               [--max-seconds S] [--repetitions R] [--json] [--benchmark-out FILE --as-threads N]

--max-seconds stops each epoch early (the rate is over the steps done); --json prints one
JSON object per repetition instead of a line of text. --benchmark-out writes Google
Benchmark's JSON with descent_bench's names (train_step/OPT/batch:B/threads:N/real_time, N from
--as-threads: the descent thread count this run stands beside; torch's own thread count is in
the context), real_time in microseconds per step and a samples_per_second counter, so that
compare.py sets PyTorch beside descent.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.001),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--max-seconds", type=float, default=0.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--benchmark-out", default="")
    parser.add_argument("--as-threads", type=int, default=2)
    args = parser.parse_args()
    if args.rows < 1:
        parser.error(f"--rows {args.rows} must be >= 1")
    if args.batch < 1 or args.batch > args.rows:
        parser.error(f"--batch {args.batch} must be in [1, --rows={args.rows}]")
    if args.threads < 0:
        parser.error(f"--threads {args.threads} must be >= 0 (0: torch's default)")
    if not math.isfinite(args.max_seconds) or args.max_seconds < 0:
        parser.error(f"--max-seconds {args.max_seconds} must be a number >= 0 (0: no limit)")
    if args.repetitions < 1:
        parser.error(f"--repetitions {args.repetitions} must be >= 1")
    if args.as_threads < 1:
        parser.error(f"--as-threads {args.as_threads} must be >= 1")
    if args.threads > 1024:
        parser.error(f"--threads {args.threads} must be at most 1024")
    if args.benchmark_out:
        if os.path.isdir(args.benchmark_out):
            parser.error(f"--benchmark-out {args.benchmark_out} is a directory")
        if not os.path.isdir(os.path.dirname(args.benchmark_out) or "."):
            parser.error(f"--benchmark-out {args.benchmark_out}: the directory "
                         f"{os.path.dirname(args.benchmark_out)} does not exist")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(1)
    x = torch.rand(args.rows, 784, generator=generator)
    y = torch.randint(0, 10, (args.rows,), generator=generator)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    optimizer = OPTIMIZERS[args.optimizer](model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()

    order = torch.randperm(args.rows, generator=generator)

    def step(first):
        index = order[first:first + args.batch]
        xb = x[index]
        yb = y[index]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()

    steps_per_epoch = args.rows // args.batch
    for i in range(min(steps_per_epoch, 20)):  # warm-up
        step(i * args.batch)
    benchmarks = []
    for repetition in range(args.repetitions):
        start = time.perf_counter()
        done = 0
        for i in range(steps_per_epoch):
            step(i * args.batch)
            done += 1
            if args.max_seconds > 0 and time.perf_counter() - start > args.max_seconds:
                break
        seconds = time.perf_counter() - start
        rate = done * args.batch / seconds
        result = {"optimizer": args.optimizer, "batch": args.batch, "steps": done,
                  "seconds": seconds, "samples_per_second": rate,
                  "threads": torch.get_num_threads(), "torch": torch.__version__}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"torch {torch.__version__} {args.optimizer} batch {args.batch}: {rate:.0f} "
                  f"samples/s ({done} steps in {seconds:.2f} s, {torch.get_num_threads()} threads)")
        sys.stdout.flush()
        name = (f"train_step/{args.optimizer}/batch:{args.batch}/threads:{args.as_threads}"
                "/real_time")
        benchmarks.append({
            "name": name, "run_name": name,
            "run_type": "iteration", "repetitions": args.repetitions,
            "repetition_index": repetition, "threads": 1, "iterations": done,
            "real_time": seconds / done * 1e6, "cpu_time": seconds / done * 1e6,
            "time_unit": "us", "samples_per_second": rate, "label": "torch"})
    if args.benchmark_out:
        with open(args.benchmark_out, "w") as f:
            json.dump({"context": {"library": "torch " + torch.__version__,
                                   "torch_threads": torch.get_num_threads()},
                       "benchmarks": benchmarks}, f, indent=1)

if __name__ == "__main__":
    main()
