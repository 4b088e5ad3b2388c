#!/usr/bin/python3
"""Tests of the bench scripts' verdicts and errors on made-up input (run by ctest).

gemm_report.py must say "every target met" and exit 0 only when the run has results for every
target and meets them; a miss, or a target it has nothing to check against, exits 1; input it
cannot use exits 2 with the reason. train_vs_torch.py must refuse bad options (exit 2) and
report a failed or incomplete descent_bench run (exit 1) before it starts PyTorch;
optim_vs_torch.py and perf_compare.py must report a failing descent_bench too.
"""
import copy
import json
import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def entry(name, counters, reps=3):
    """Google Benchmark's iteration entries for one run, the counters the same each repetition."""
    out = []
    for i in range(reps):
        b = {"name": name + "/real_time", "run_name": name + "/real_time", "run_type": "iteration",
             "repetitions": reps, "repetition_index": i, "iterations": 10, "real_time": 1.0,
             "cpu_time": 1.0, "time_unit": "us"}
        b.update(counters)
        out.append(b)
    return out


def full_run(descent=200.0, onednn=200.0, scaling=1.95, extra=0.02):
    """A run with a shape for every target; every one met with the defaults."""
    b = []
    for t in (1, 2):
        b += entry(f"kernels/fma_peak/threads:{t}", {"GFLOPS": 210.0 * t})
    shapes = [("square/128", 128, 128, 128), ("square/512", 512, 512, 512),
              ("fwd/128/784-256", 128, 256, 784), ("fwd/128/256-10", 128, 10, 256)]
    for shape, m, n, k in shapes:
        for t in (1, 2):
            for lib, rate in (("descent", descent), ("onednn", onednn), ("openblas", 100.0)):
                if lib == "descent" and n == 10:
                    rate = 150.0  # narrow: the peers below it
                elif n == 10:
                    rate = 90.0
                elif t == 2:
                    rate *= scaling
                b += entry(f"kernels/gemm/{lib}/{shape}/threads:{t}",
                           {"GFLOPS": rate, "m": m, "n": n, "k": k})
    b += entry("kernels/dense_forward/fwd/128/784-256/threads:1",
               {"layer_GFLOPS": 190.0, "product_GFLOPS": 195.0, "layer_extra_time": extra})
    return {"context": {"num_cpus": 2}, "benchmarks": b}


def without(run, needle):
    r = copy.deepcopy(run)
    r["benchmarks"] = [b for b in r["benchmarks"] if needle not in b["name"]]
    return r


def report(tmp, data, raw=None):
    path = os.path.join(tmp, "run.json")
    with open(path, "w") as f:
        f.write(raw if raw is not None else json.dumps(data))
    r = subprocess.run([PYTHON, os.path.join(HERE, "gemm_report.py"), path],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def script(name, *args):
    r = subprocess.run([PYTHON, os.path.join(HERE, name), *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def train_vs_torch(*args):
    return script("train_vs_torch.py", *args)


def main():
    failures = []
    total = 0

    def expect(what, got, status, *needles):
        nonlocal total
        total += 1
        code, out = got
        missing = [n for n in needles if n not in out]
        if code != status or missing:
            failures.append(f"{what}: exit {code} (expected {status}), missing {missing}\n{out}")

    with tempfile.TemporaryDirectory() as tmp:
        expect("a run meeting every target", report(tmp, full_run()), 0, "every target met")
        expect("one thread at 0.90 of oneDNN", report(tmp, full_run(descent=180.0)), 1,
               "target(s) missed", "square/128 1 thread:< 95% of oneDNN")
        expect("scaling 1.7x on squares >= 512", report(tmp, full_run(scaling=1.7)), 1,
               "square/512: 2-thread scaling 1.70x")
        expect("a fused forward 15% slower", report(tmp, full_run(extra=0.15)), 1,
               "dense forward fwd/128/784-256 1 threads: +15%")
        no_dnnl = report(tmp, without(full_run(), "/onednn/"))
        expect("no oneDNN results", no_dnnl, 1, "not made", "one thread within 5% of oneDNN")
        if "every target met" in no_dnnl[1]:
            failures.append("no oneDNN results: still says every target met")
        expect("no 2-thread results", report(tmp, without(full_run(), "threads:2")), 1,
               "two threads >= 1.85x one thread on squares >= 512: no shape")
        one_square = full_run()
        one_square["benchmarks"] += entry("kernels/gemm/descent/square/1024/threads:1",
                                          {"GFLOPS": 200.0, "m": 1024, "n": 1024, "k": 1024})
        expect("a square without its 2-thread run", report(tmp, one_square), 1,
               "square/1024: no 2-thread result")
        expect("no dense_forward results", report(tmp, without(full_run(), "dense_forward")), 1,
               "a dense layer's forward within 10%")
        errored = full_run()
        errored["benchmarks"].append({"name": "kernels/gemm/descent/square/256/threads:1",
                                      "run_type": "iteration", "error_occurred": True,
                                      "error_message": "out of memory"})
        expect("an errored run", report(tmp, errored), 1, "out of memory")
        pin_failed = full_run()  # fma_peak/cpu:N cannot pin: reported, not a missed target
        pin_failed["benchmarks"].append({"name": "kernels/fma_peak/cpu:1", "run_type": "iteration",
                                         "error_occurred": True, "error_message": "cannot pin"})
        expect("an unpinnable CPU", report(tmp, pin_failed), 0, "every target met")
        expect("no kernels results", report(tmp, {"benchmarks": []}), 2, "no kernels/gemm")
        expect("not JSON", report(tmp, None, raw="{not json"), 2, "cannot read")
        expect("JSON of something else", report(tmp, [1, 2]), 2, "not Google Benchmark JSON")
        # A device would be read forever; a reader that goes away (| head) is said once, with
        # no traceback.
        expect("/dev/zero", script("gemm_report.py", "/dev/zero"), 2, "not a regular file")
        report(tmp, full_run())
        read_end, write_end = os.pipe()
        os.close(read_end)  # gone before the first write: every write fails
        piped = subprocess.run([PYTHON, os.path.join(HERE, "gemm_report.py"),
                                os.path.join(tmp, "run.json")], stdout=write_end,
                               stderr=subprocess.PIPE, text=True)
        os.close(write_end)
        expect("a reader that goes away", (piped.returncode, piped.stderr), 2,
               "cannot write to standard output")
        if "Traceback" in piped.stderr:
            failures.append(f"a reader that goes away: a traceback\n{piped.stderr}")
        no_counter = full_run()
        del no_counter["benchmarks"][-1]["layer_extra_time"]
        expect("a missing counter", report(tmp, no_counter), 2, "\"layer_extra_time\" is missing")
        nan = full_run()
        nan["benchmarks"][0]["GFLOPS"] = float("nan")
        expect("a NaN rate", report(tmp, nan), 2, "not a finite number")
        expect("JSON nested too deeply", report(tmp, None, raw="[" * 100000 + "]" * 100000), 2,
               "nested too deeply")
        huge = int("9" * 400)  # no float holds it: math.isfinite would raise
        big_rate = full_run()
        big_rate["benchmarks"][0]["GFLOPS"] = huge
        expect("a 400-digit rate", report(tmp, big_rate), 2, "\"GFLOPS\" is 999",
               "not a finite number")
        big_m = full_run()
        next(b for b in big_m["benchmarks"] if "m" in b)["m"] = huge
        expect("a 400-digit m", report(tmp, big_m), 2, "\"m\" is 999")
        for cpus in (float("inf"), "two", float("nan")):
            bad_cpus = full_run()
            bad_cpus["context"]["num_cpus"] = cpus
            got = report(tmp, bad_cpus)
            expect(f"num_cpus {cpus!r}", got, 2, "run.json: context num_cpus",
                   "is not a whole number")
            if "FMA peak" in got[1]:
                failures.append(f"num_cpus {cpus!r}: part of the report printed before the error")

        # check_smoke.py: a path it cannot write, or no arguments, is bad input (exit 2).
        for out, needle in ((os.path.join(tmp, "none", "x.json"), "does not exist"),
                            ("/proc/x.json", "cannot write /proc/x.json"),
                            (tmp, "is a directory")):
            expect(f"check_smoke.py to {out}", script("check_smoke.py", "/bin/true", out), 2,
                   needle)
        expect("check_smoke.py without arguments", script("check_smoke.py"), 2,
               "check_smoke.py: expected 2 arguments")

        # train_vs_torch.py: options, then a descent_bench that fails or leaves results out.
        expect("a batch outside the suite", train_vs_torch("--batches", "1,100"), 2,
               "batch '100' is not one of")
        expect("--rounds 0", train_vs_torch("--rounds", "0"), 2, "--rounds")
        expect("--torch-max-seconds -1", train_vs_torch("--torch-max-seconds", "-1"), 2,
               "--torch-max-seconds")
        expect("a missing bench binary", train_vs_torch("--bench", os.path.join(tmp, "none")), 2,
               "is not an executable file")
        failing = os.path.join(tmp, "failing_bench")
        with open(failing, "w") as f:
            f.write("#!/bin/sh\necho 'descent_bench: error: something broke' >&2\nexit 3\n")
        os.chmod(failing, stat.S_IRWXU)
        expect("a failing bench", train_vs_torch("--bench", failing, "--rounds", "1"), 1,
               "failed (exit 3)", "something broke")
        # The other scripts that run descent_bench share the same runner (gbench.run).
        expect("optim_vs_torch.py --rounds 0", script("optim_vs_torch.py", "--rounds", "0"), 2,
               "--rounds 0 must be >= 1")
        expect("optim_vs_torch.py with a failing bench",
               script("optim_vs_torch.py", "--bench", failing, "--rounds", "1"), 1,
               "failed (exit 3)", "something broke")
        expect("perf_compare.py run with a failing bench",
               script("perf_compare.py", "run", "--ref", failing, "--new", failing, "--out",
                      os.path.join(tmp, "pc")), 2, "failed (exit 3)", "something broke")
        # perf_compare.py run checks what it will write, and the filter, before any round.
        ran = os.path.join(tmp, "ran")
        marking = os.path.join(tmp, "marking_bench")
        with open(marking, "w") as f:
            f.write(f"#!/bin/sh\ntouch {ran}\nexit 3\n")
        os.chmod(marking, stat.S_IRWXU)
        os.makedirs(os.path.join(tmp, "pc2", "new.json"))
        expect("perf_compare.py run with DIR/new.json a directory",
               script("perf_compare.py", "run", "--ref", marking, "--new", marking, "--out",
                      os.path.join(tmp, "pc2")), 2, "new.json is a directory")
        expect("perf_compare.py run --filter '['",
               script("perf_compare.py", "run", "--ref", marking, "--new", marking, "--filter",
                      "[", "--out", os.path.join(tmp, "pc3")), 2,
               "--filter '[' is not a valid regular expression")
        if os.path.exists(ran) or os.listdir(os.path.join(tmp, "pc2")) != ["new.json"]:
            failures.append("perf_compare.py run: a bad --out or --filter still ran a round")
        partial = os.path.join(tmp, "partial_bench")
        one_thread = {"name": "train_step/sgd_momentum/batch:1/threads:1", "run_type": "iteration",
                      "samples_per_second": 1000.0, "peak_fraction": 0.01}
        with open(partial, "w") as f:
            f.write("#!/usr/bin/python3\nimport json, sys\n"
                    "out = [a.split('=', 1)[1] for a in sys.argv if a.startswith("
                    "'--benchmark_out=')][0]\n"
                    f"json.dump({{'benchmarks': [{one_thread!r}]}}, open(out, 'w'))\n")
        os.chmod(partial, stat.S_IRWXU)
        expect("a bench without 2-thread results",
               train_vs_torch("--bench", partial, "--rounds", "1", "--batches", "1"), 1,
               "gave no train_step/sgd_momentum/batch:1/threads:2 result")
    for f in failures:
        print("FAIL " + f)
    print(f"report tests: {total - len(failures)} of {total} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
