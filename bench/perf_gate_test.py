#!/usr/bin/python3
"""Tests of perf_compare.py's gate on made-up Google Benchmark JSON (run by ctest)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, times, counters=None, unit="us"):
    benchmarks = []
    for i, t in enumerate(times):
        b = {"name": "train_step/adam/batch:128/threads:2", "run_type": "iteration",
             "repetitions": len(times), "repetition_index": i, "real_time": t, "cpu_time": t,
             "time_unit": unit, "iterations": 100}
        if counters:
            b["samples_per_second"] = counters[i]
        benchmarks.append(b)
    with open(path, "w") as f:
        json.dump({"context": {}, "benchmarks": benchmarks}, f)


def gate(tmp, ref, new, ref_counters=None, new_counters=None, extra=(), units=("us", "us")):
    a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
    write(a, ref, ref_counters, units[0])
    write(b, new, new_counters, units[1])
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate", a, b,
                        *extra], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    base = [100.0, 101.0, 99.5, 100.5, 100.2, 99.8, 100.9, 99.1, 100.4]
    failures = []

    def expect(what, got, status, needle=None):
        code, out = got
        if code != status or (needle and needle not in out):
            failures.append(f"{what}: exit {code}, expected {status}\n{out}")

    with tempfile.TemporaryDirectory() as tmp:
        expect("same distribution passes", gate(tmp, base, list(reversed(base))), 0, "passed")
        expect("10% slower fails", gate(tmp, base, [t * 1.10 for t in base]), 1, "time +10")
        expect("3% slower is under the threshold", gate(tmp, base, [t * 1.03 for t in base]), 0)
        expect("3% slower fails a 2% threshold",
               gate(tmp, base, [t * 1.03 for t in base], extra=("--threshold", "0.02")), 1)
        expect("10% faster passes", gate(tmp, base, [t * 0.9 for t in base]), 0)
        # One noisy outlier, otherwise equal: no significant change.
        expect("one outlier passes", gate(tmp, base, base[:-1] + [150.0]), 0)
        rate = [1000.0 + i for i in range(9)]
        expect("a throughput counter 10% lower fails",
               gate(tmp, base, base, rate, [r * 0.9 for r in rate]), 1, "samples_per_second")
        expect("a higher throughput passes", gate(tmp, base, base, rate, [r * 1.2 for r in rate]),
               0)
        # Too few repetitions for the U test to show anything: refused, not passed.
        expect("one repetition is refused", gate(tmp, base, [t * 10 for t in base[:1]]), 2,
               "cannot reach p < 0.05")
        expect("alpha 0 is refused", gate(tmp, base, base, extra=("--alpha", "0")), 2, "--alpha")
        # Runs in different time units (--benchmark_time_unit): compared in one unit.
        in_ns = [t * 1000 for t in base]
        expect("2x slower in another unit fails",
               gate(tmp, in_ns, [t * 2 for t in base], units=("ns", "us")), 1, "time +100")
        expect("the same times in another unit pass", gate(tmp, in_ns, base, units=("ns", "us")),
               0, "passed")
        expect("an unknown unit is refused", gate(tmp, base, base, units=("us", "h")), 2,
               "time_unit 'h' is none of")
        expect("a NaN time is refused", gate(tmp, base, base[:-1] + [float("nan")]), 2,
               "real_time nan is not a positive number")
        expect("a zero reference time is refused", gate(tmp, [0.0] + base[1:], base), 2,
               "real_time 0.0 is not a positive number")
        # A benchmark the new binary failed, or no longer has, fails the gate.
        a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
        write(a, base)
        with open(b, "w") as f:
            json.dump({"context": {}, "benchmarks": [
                {"name": "train_step/adam/batch:128/threads:2", "run_type": "iteration",
                 "error_occurred": True, "error_message": "diverged"}]}, f)
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate", a,
                            b], capture_output=True, text=True)
        if r.returncode != 1 or "failed in" not in r.stdout or "diverged" not in r.stdout:
            failures.append(f"errored in NEW: exit {r.returncode}\n{r.stdout}{r.stderr}")
        with open(a) as f:
            both = json.load(f)
        for entry in list(both["benchmarks"]):
            both["benchmarks"].append(dict(entry, name="train_step/sgd/batch:1/threads:1"))
        with open(a, "w") as f:
            json.dump(both, f)
        write(b, base)
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate", a,
                            b], capture_output=True, text=True)
        if r.returncode != 1 or "train_step/sgd/batch:1/threads:1: missing from" not in r.stdout:
            failures.append(f"missing in NEW: exit {r.returncode}\n{r.stdout}{r.stderr}")
        # A counter at 0 (a run that diverged at once) is left out, not refused.
        expect("a zero counter passes", gate(tmp, base, base, [0.0] * 9, [0.0] * 9), 0, "passed")
        # Failed in the reference, or new: nothing to compare, noted, and the rest passes.
        with open(a) as f:
            ref_doc = json.load(f)
        ref_doc["benchmarks"].append({"name": "kernels/fma_peak/cpu:7", "run_type": "iteration",
                                      "error_occurred": True, "error_message": "cannot pin"})
        with open(a, "w") as f:
            json.dump(ref_doc, f)
        write(b, base)
        with open(b) as f:
            new_doc = json.load(f)
        new_doc["benchmarks"] += [dict(e, name="optim/step/sgd") for e in new_doc["benchmarks"]]
        with open(b, "w") as f:
            json.dump(new_doc, f)
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate", a,
                            b], capture_output=True, text=True)
        if r.returncode != 0 or "failed in" not in r.stdout or "new, not compared" not in r.stdout:
            failures.append(f"REF errored / NEW-only: exit {r.returncode}\n{r.stdout}{r.stderr}")
        with open(os.path.join(tmp, "bad.json"), "w") as f:
            f.write("{not json")
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate",
                            os.path.join(tmp, "bad.json"), os.path.join(tmp, "a.json")],
                           capture_output=True, text=True)
        if r.returncode != 2 or "cannot read" not in r.stderr:
            failures.append(f"bad JSON: exit {r.returncode}\n{r.stderr}")
        with open(os.path.join(tmp, "deep.json"), "w") as f:
            f.write("[" * 100000 + "]" * 100000)
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "perf_compare.py"), "gate",
                            os.path.join(tmp, "deep.json"), os.path.join(tmp, "a.json")],
                           capture_output=True, text=True)
        if r.returncode != 2 or "nested too deeply" not in r.stderr or "Traceback" in r.stderr:
            failures.append(f"deeply nested JSON: exit {r.returncode}\n{r.stderr}")
        # An integer no float holds: math.isfinite would raise OverflowError on it.
        expect("a 400-digit time is refused", gate(tmp, base, base[:-1] + [int("9" * 400)]), 2,
               "real_time 999")
        # Nine repetitions cannot reach p < 1e-300: the advice is not "use at least 9".
        got = gate(tmp, base, base, extra=("--alpha", "1e-300"))
        expect("alpha 1e-300 is refused", got, 2, "use more repetitions or a larger --alpha")
    for f in failures:
        print("FAIL " + f)
    print(f"perf gate tests: {23 - len(failures)} of 23 passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
