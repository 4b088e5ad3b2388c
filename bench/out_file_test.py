#!/usr/bin/python3
"""descent_bench's output file and settings (run by ctest): whether --benchmark_out or
BENCHMARK_OUT names it, a run writes it only once it has finished, and a listing, a filter
that matches nothing or a bad setting (a flag, or its environment variable) exits as it
should and leaves an earlier file as it was.

usage: out_file_test.py DESCENT_BENCH WORK_DIR
"""
import glob
import json
import os
import subprocess
import sys

# One short case: the whole test takes well under a second.
CASE = ["--benchmark_filter=^optim/step/sgd/params:269322/threads:1/",
        "--benchmark_min_time=0.001"]
KEEP = "an earlier run's results\n"


def main():
    bench, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "out.json")
    failures = []

    def run(args, env=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHMARK_")}
        full_env.update(env or {})
        with open(out, "w") as f:
            f.write(KEEP)
        # A check that let "inf" through would run for ever: a minute ends it as a failure.
        try:
            r = subprocess.run([bench, *args], env=full_env, capture_output=True, text=True,
                               timeout=60)
        except subprocess.TimeoutExpired:
            return None, "still running after 60 s", ""
        with open(out) as f:
            text = f.read()
        return r.returncode, r.stdout + r.stderr, text

    def expect_kept(what, args, env, status, needle=None):
        code, said, text = run(args, env)
        if code != status:
            failures.append(f"{what}: exit {code}, expected {status}: {said[-400:]}")
        if text != KEEP:
            failures.append(f"{what}: the earlier file was changed to {text[:80]!r}")
        if needle is not None and needle not in said:
            failures.append(f"{what}: no {needle!r} in {said[-400:]!r}")

    def expect_written(what, args, env, runs):
        code, said, text = run(args, env)
        if code != 0:
            failures.append(f"{what}: exit {code}: {said[-400:]}")
            return
        try:
            names = [b["name"] for b in json.loads(text)["benchmarks"]]
        except (ValueError, KeyError) as e:
            failures.append(f"{what}: the file is not the run's JSON ({e}): {text[:80]!r}")
            return
        if len(names) != runs:
            failures.append(f"{what}: {len(names)} results in the file, expected {runs}")

    # Listing the cases writes no results: Google Benchmark would empty the file.
    expect_kept("--benchmark_list_tests", ["--benchmark_list_tests", *CASE,
                                           f"--benchmark_out={out}"], None, 0)
    expect_kept("BENCHMARK_LIST_TESTS=true",
                CASE, {"BENCHMARK_LIST_TESTS": "true", "BENCHMARK_OUT": out}, 0)
    # The output named by the environment is kept from a run that fails as from one named by
    # the flag.
    expect_kept("BENCHMARK_OUT, no case matched", ["--benchmark_filter=^no such case$"],
                {"BENCHMARK_OUT": out}, 2)
    expect_kept("--benchmark_out, no case matched",
                ["--benchmark_filter=^no such case$", f"--benchmark_out={out}"], None, 2)
    # Bad settings, each given as a flag ("--...") or an environment variable, and refused
    # before the run with exit status 2: descent's own variables; a repetition count Google
    # Benchmark would ignore or crash on; words it does not know (it would print its usage and
    # exit with status 0, having run nothing); times that are no number of seconds (nan and
    # inf would never end).
    refused = [("DESCENT_ISA=bogus", "is not an ISA"),
               ("DESCENT_BENCH_CAP_SECONDS=0", "is not a number of seconds"),
               ("DESCENT_BENCH_THREADS=0", "is not a thread count"),
               ("DESCENT_BENCH_THREADS=1,2,1", "1 is listed twice")]
    refused += [(f"BENCHMARK_REPETITIONS={v}", "the repetitions must be a whole number")
                for v in ["0", "-3", "abc", ""]]
    refused += [("--benchmark_repetitions=0", "the repetitions must be a whole number")]
    refused += [(s, "it must be") for s in [
        "--benchmark_format=xml", "--benchmark_out_format=yaml", "--benchmark_time_unit=h",
        "--benchmark_color=", "BENCHMARK_FORMAT=tsv", "BENCHMARK_OUT_FORMAT=",
        "BENCHMARK_TIME_UNIT=min", "BENCHMARK_COLOR="]]
    refused += [(s, "it must be a number of seconds") for s in [
        "--benchmark_min_time=nan", "--benchmark_min_time=-1", "--benchmark_min_time=inf",
        "--benchmark_min_warmup_time=-0.5", "BENCHMARK_MIN_TIME=inf"]]
    for setting, needle in refused:
        # The output named the same way as the setting.
        if setting.startswith("--"):
            expect_kept(setting, [*CASE, setting, f"--benchmark_out={out}"], None, 2, needle)
        else:
            # (Without CASE's --benchmark_min_time, which would override BENCHMARK_MIN_TIME.)
            name, value = setting.split("=", 1)
            expect_kept(setting, CASE[:1], {"BENCHMARK_OUT": out, name: value}, 2, needle)
    # An empty --benchmark_out means no file, whatever BENCHMARK_OUT says.
    expect_kept("--benchmark_out= over BENCHMARK_OUT", [*CASE, "--benchmark_out="],
                {"BENCHMARK_OUT": out}, 0)

    # Runs that finish write the file, however it was named.
    expect_written("--benchmark_out", [*CASE, f"--benchmark_out={out}"], None, 1)
    expect_written("BENCHMARK_OUT", CASE, {"BENCHMARK_OUT": out}, 1)
    expect_written("BENCHMARK_REPETITIONS=2", CASE,
                   {"BENCHMARK_OUT": out, "BENCHMARK_REPETITIONS": "2"}, 2 + 4)
    # A false listing flag, spelled as Google Benchmark accepts it, runs the cases.
    expect_written("--benchmark_list_tests=no",
                   [*CASE, "--benchmark_list_tests=no", f"--benchmark_out={out}"], None, 1)
    expect_written("BENCHMARK_LIST_TESTS=off", CASE,
                   {"BENCHMARK_OUT": out, "BENCHMARK_LIST_TESTS": "off"}, 1)
    # The last of a flag's values counts, as Google Benchmark reads them.
    expect_written("--benchmark_format=xml then =json",
                   [*CASE, "--benchmark_format=xml", "--benchmark_format=json",
                    f"--benchmark_out={out}"], None, 1)
    expect_written("BENCHMARK_TIME_UNIT=ms", CASE,
                   {"BENCHMARK_OUT": out, "BENCHMARK_TIME_UNIT": "ms"}, 1)
    expect_written("--benchmark_time_unit= (the default)",
                   [*CASE, "--benchmark_time_unit=", f"--benchmark_out={out}"], None, 1)
    # A flag overrides its variable, and only the setting in use is checked.
    expect_written("BENCHMARK_REPETITIONS=abc under --benchmark_repetitions=2",
                   [*CASE, "--benchmark_repetitions=2"],
                   {"BENCHMARK_OUT": out, "BENCHMARK_REPETITIONS": "abc"}, 2 + 4)
    expect_written("--benchmark_min_time=nan then =0.001",
                   [*CASE, "--benchmark_min_time=nan", "--benchmark_min_time=0.001",
                    f"--benchmark_out={out}"], None, 1)
    expect_written("BENCHMARK_FORMAT=xml under --benchmark_format=json",
                   [*CASE, "--benchmark_format=json"],
                   {"BENCHMARK_OUT": out, "BENCHMARK_FORMAT": "xml"}, 1)
    expect_written("BENCHMARK_LIST_TESTS=1 under --benchmark_list_tests=false",
                   [*CASE, "--benchmark_list_tests=false"],
                   {"BENCHMARK_OUT": out, "BENCHMARK_LIST_TESTS": "1"}, 1)
    # A bare --benchmark_out is an unknown argument, not a file named "true".
    code, said, _ = run([*CASE, "--benchmark_out"], {"BENCHMARK_OUT": out})
    if code != 2 or os.path.exists(os.path.join(os.getcwd(), "true")):
        failures.append(f"a bare --benchmark_out: exit {code}: {said[-300:]!r}")
    # Where the output file's path came from is what an error names.
    code, said, _ = run(CASE, {"BENCHMARK_OUT": work})
    if code != 2 or f"BENCHMARK_OUT={work}: is a directory" not in said:
        failures.append(f"BENCHMARK_OUT naming a directory: exit {code}: {said[-300:]!r}")

    left = glob.glob(os.path.join(work, "*.partial-*"))
    if left:
        failures.append(f"temporary files left behind: {left}")
    for f in failures:
        print("FAIL", f)
    if failures:
        sys.exit(1)
    print("out_file_test: all passed")


if __name__ == "__main__":
    main()
