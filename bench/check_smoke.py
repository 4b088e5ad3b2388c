#!/usr/bin/python3
"""CI's smoke pass of descent_bench: every case once, for the shortest time, so none can rot.

usage: check_smoke.py DESCENT_BENCH OUT.json

Runs every suite (kernels/, optim/, train_step/, convergence/; of convergence/fashion/ one
case per optimizer and rate) with --benchmark_min_time tiny, one repetition and the
convergence cap at 0.05 s, then checks the JSON: each suite ran, no
case reported an error, and each suite's counters are there. No timing is judged.
"""
import os
import subprocess
import sys
import tempfile

import gbench

COUNTERS = {
    "kernels/fma_peak/": ["GFLOPS"],
    "kernels/gemm/": ["GFLOPS", "peak_fraction"],
    "optim/step/": ["GBps"],
    "train_step/": ["samples_per_second", "GFLOPS", "peak_fraction", "data_us", "forward_us",
                    "backward_us", "reduce_us", "optimizer_us"],
    "convergence/": ["seconds_to_target", "epochs_to_target", "samples_to_target",
                     "samples_per_second", "final_loss", "diverged", "capped"],
}
# Registered only where a second core can run the other thread.
if (os.cpu_count() or 1) >= 2:
    COUNTERS["kernels/handoff/"] = ["GBps"]


def unwritable(out):
    """Why OUT.json cannot be written, or None: checked before the runs, so that a bad path is
    bad input (exit 2), not a failed smoke pass (exit 1)."""
    if os.path.isdir(out):
        return f"{out} is a directory; name the JSON file to write"
    parent = os.path.dirname(out) or "."
    if not os.path.isdir(parent):
        return f"cannot write {out}: the directory {parent} does not exist"
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".check_smoke.")
    except OSError as e:
        return f"cannot write {out}: {e.strerror}"
    os.close(fd)
    os.unlink(probe)
    return None


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        print(f"check_smoke.py: expected 2 arguments (DESCENT_BENCH OUT.json), got "
              f"{len(sys.argv) - 1}", file=sys.stderr)
        return 2
    bench, out = sys.argv[1], sys.argv[2]
    reason = unwritable(out)
    if reason:
        print(f"check_smoke.py: {reason}", file=sys.stderr)
        return 2
    env = dict(os.environ, DESCENT_BENCH_CAP_SECONDS="0.05")
    runs = []
    # Every case but the Fashion-MNIST convergence runs, whose data preparation (60,000 images
    # split and standardised per run) would take most of the time; of those, one per optimizer
    # and rate (the code is the digits runs' code).
    for pattern in ("^(kernels|optim|train_step|convergence/digits)/",
                    "^convergence/fashion/.*/batch:512/threads:1/"):
        try:
            result = subprocess.run(
                [bench, f"--benchmark_filter={pattern}", "--benchmark_min_time=0.0001",
                 "--benchmark_repetitions=1", f"--benchmark_out={out}",
                 "--benchmark_out_format=json"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            print(f"check_smoke.py: cannot run {bench}: {e.strerror}", file=sys.stderr)
            return 2
        if result.returncode != 0:
            print(f"check_smoke.py: {bench} failed (exit {result.returncode}): "
                  f"{gbench.last_words(result.stderr)}", file=sys.stderr)
            return 1
        try:
            _, by_name, errored = gbench.load(out)
        except gbench.InputError as e:
            print(f"check_smoke.py: {e}", file=sys.stderr)
            return 1
        runs += [r for entries in by_name.values() for r in entries]
        runs += [{"name": name, "error_occurred": True, "error_message": message}
                 for name, message in errored.items()]
    failures = []
    for prefix, counters in COUNTERS.items():
        cases = [r for r in runs if r["name"].startswith(prefix)]
        if not cases:
            failures.append(f"no {prefix} benchmark ran")
        for r in cases:
            if r.get("error_occurred"):
                continue  # reported below
            missing = [c for c in counters if c not in r]
            if missing:
                failures.append(f"{r['name']}: no counter {', '.join(missing)}")
    for r in runs:
        if r.get("error_occurred"):
            failures.append(f"{r['name']}: {r.get('error_message', 'error')}")
    print(f"descent_bench smoke: {len(runs)} cases")
    for f in failures[:40]:
        print("  FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
