#!/usr/bin/python3
"""The performance-regression gate: two descent_bench binaries, interleaved, compared.

  perf_compare.py run --ref REF_BENCH --new NEW_BENCH [--filter RE] [--repetitions 9]
                      [--threshold 0.05] [--out DIR] [--min-time SECONDS]
  perf_compare.py gate REF.json NEW.json [--threshold 0.05] [--alpha 0.05]

`run` runs the two binaries alternately (REF then NEW in even rounds, NEW then REF in odd
ones, so that a slow minute of the machine hurts both), one repetition per run, at least 9
rounds; merges each side's rounds into one Google Benchmark JSON file (DIR/ref.json,
DIR/new.json, each round a repetition); prints Google Benchmark's compare.py table (Debian's
libbenchmark-tools, which needs python3-scipy); then gates.

`gate` fails (exit 1) when a benchmark got slower by more than the threshold with a
two-sided Mann-Whitney U test p < alpha: its real time (median of the repetitions) rose, or
a throughput counter (samples_per_second, GFLOPS) fell, by more than the threshold. compare.py
itself never fails and reads only times, hence this. Exit 0 when nothing regressed, 2 for bad
input or a binary that fails. tools/run perf-compare REF [FILTER] builds both binaries and
calls `run`.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import gbench

COMPARE = "/usr/share/benchmark/compare.py"
THROUGHPUT = ("samples_per_second", "GFLOPS")


def fail_input(message):
    print(f"perf_compare.py: {message}", file=sys.stderr)
    sys.exit(2)


def load(path):
    """(runs, errored) of a Google Benchmark JSON file: iteration entries by benchmark name,
    and the message of each benchmark that reported an error (`run` lists those of every
    round under "errors", beside "benchmarks")."""
    try:
        _, runs, errored = gbench.load(path)
    except gbench.InputError as e:
        fail_input(str(e))
    return runs, errored


def values(path, name, entries, key, required):
    """The numbers `key` holds in a benchmark's entries; exit 2 for a value that is no finite
    number, or a missing one when required. A time must be positive; a counter at or below 0
    (a run that diverged at once reports 0 samples/s) is left out of the comparison."""
    out = []
    for r in entries:
        if key not in r:
            if required:
                fail_input(f"{path}: {name} has no {key}")
            continue
        v = r[key]
        if not gbench.finite_number(v) or (required and v <= 0):
            fail_input(f"{path}: {name}: {key} {gbench.shown(v)} is not a "
                       f"{'positive' if required else 'finite'} number")
        out.append(float(v))
    if not required and out and statistics.median(out) <= 0:
        return []
    return out


# Google Benchmark's time units, in nanoseconds (an entry without one is in ns).
UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def times(path, name, entries):
    """real_time of each entry in nanoseconds: two runs may be in different units
    (--benchmark_time_unit, BENCHMARK_TIME_UNIT), and 2.0 us is not faster than 1000 ns."""
    out = []
    for r, v in zip(entries, values(path, name, entries, "real_time", True)):
        unit = r.get("time_unit", "ns")
        if unit not in UNITS:
            fail_input(f"{path}: {name}: time_unit {gbench.shown(unit)} is none of "
                       f"{', '.join(UNITS)}")
        out.append(v * UNITS[unit])
    return out


def u_test(a, b):
    from scipy.stats import mannwhitneyu  # python3-scipy
    if len(a) < 2 or len(b) < 2 or (len(set(a)) == 1 and set(a) == set(b)):
        return 1.0
    return mannwhitneyu(a, b, alternative="two-sided").pvalue


def check_power(paths, name, n_ref, n_new, alpha):
    """Exit 2 when n_ref and n_new repetitions could not give p < alpha even for two samples
    that do not overlap at all: such a gate would pass anything."""
    def best_p(n, m):
        return u_test([float(i) for i in range(n)], [float(n + i) for i in range(m)])

    best = best_p(n_ref, n_new)
    if best >= alpha:
        # 9 each, as `run` does, is enough for the usual alphas, not for a tiny one.
        advice = ("use at least 9, as perf_compare.py run does"
                  if min(n_ref, n_new) < 9 and best_p(9, 9) < alpha else
                  "use more repetitions or a larger --alpha")
        fail_input(f"{name} has {n_ref} repetitions in {paths[0]} and {n_new} in {paths[1]}; "
                   f"the U test cannot reach p < {alpha} with so few (at best p = {best:.3g}): "
                   f"{advice}")


def gate(ref_path, new_path, threshold, alpha):
    (ref, ref_errors), (new, new_errors) = load(ref_path), load(new_path)
    common = [name for name in ref if name in new]
    regressions, notes, checked = [], [], 0
    # A benchmark the reference ran that the new binary lost or failed is a regression too.
    for name in ref:
        if name in new_errors:
            regressions.append(f"{name}: failed in {new_path} ({new_errors[name]})")
        elif name not in new:
            regressions.append(f"{name}: missing from {new_path}")
    # One that failed in the reference (fma_peak/cpu:N where no thread can be pinned) has
    # nothing to be compared with.
    for name, message in ref_errors.items():
        if name in new_errors:
            notes.append(f"{name}: failed on both sides ({message}), not compared")
        else:
            notes.append(f"{name}: failed in {ref_path} ({message}), not compared")
    notes += [f"{name}: new, not compared" for name in new
              if name not in ref and name not in ref_errors]
    if not common and not regressions:
        fail_input(f"{ref_path} and {new_path} have no benchmark in common")
    for name in common:
        a, b = ref[name], new[name]
        ta = times(ref_path, name, a)
        tb = times(new_path, name, b)
        check_power((ref_path, new_path), name, len(ta), len(tb), alpha)
        checked += 1
        change = statistics.median(tb) / statistics.median(ta) - 1.0
        p = u_test(ta, tb)
        if change > threshold and p < alpha:
            regressions.append(f"{name}: time {change:+.1%} (median {statistics.median(ta):.4g} -> "
                               f"{statistics.median(tb):.4g} ns, p = {p:.3g})")
        for counter in THROUGHPUT:
            ca = values(ref_path, name, a, counter, False)
            cb = values(new_path, name, b, counter, False)
            if not ca or not cb:
                continue
            checked += 1
            drop = 1.0 - statistics.median(cb) / statistics.median(ca)
            p = u_test(ca, cb)
            if drop > threshold and p < alpha:
                regressions.append(f"{name}: {counter} -{drop:.1%} (median "
                                   f"{statistics.median(ca):.4g} -> {statistics.median(cb):.4g}, "
                                   f"p = {p:.3g})")
    print(f"\ngate: {len(common)} benchmarks, {checked} measures, threshold {threshold:.0%} "
          f"slower with U-test p < {alpha}")
    for n in notes:
        print(f"  note: {n}")
    for r in regressions:
        print(f"  REGRESSION {r}")
    if regressions:
        print(f"gate: FAILED, {len(regressions)} regression(s)")
        return 1
    print("gate: passed")
    return 0


def write_json_files(documents):
    """Writes each {path: document} to a temporary file beside it, then renames them all: a
    failure while writing leaves the old files as they were (run() has checked beforehand that
    no destination is a directory, so a rename failing after another is unlikely)."""
    done, current = [], None
    try:
        for path, document in documents.items():
            current = path
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".perf_compare.",
                                       suffix=".json")
            done.append(tmp)
            with os.fdopen(fd, "w") as f:
                json.dump(document, f, indent=1)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        for tmp, path in zip(done, documents):
            current = path
            os.replace(tmp, path)
    except BaseException as e:
        for tmp in done:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(e, OSError):
            fail_input(f"cannot write {current}: {e.strerror}")
        raise


def run(args):
    for path in (args.ref, args.new):
        if not os.access(path, os.X_OK):
            fail_input(f"{path} is not an executable descent_bench")
    if args.repetitions < 9:
        fail_input(f"--repetitions {args.repetitions}: use at least 9 (the U test needs them)")
    # Google Benchmark compiles the filter as a std::regex; Python's re refuses the same
    # malformed patterns ("[", "(") and says where, before any round has run.
    try:
        re.compile(args.filter)
    except re.error as e:
        fail_input(f"--filter {args.filter!r} is not a valid regular expression: {e}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        fail_input(f"--out {args.out}: that is a file, not a directory")
    # What the rounds and the merge will write, checked before the first round: a directory in
    # the way would otherwise end the run after every benchmark had run.
    for name in ["ref.json", "new.json"] + [f"{side}-{rnd}.json" for rnd in
                                            range(args.repetitions) for side in ("ref", "new")]:
        if os.path.isdir(os.path.join(args.out, name)):
            fail_input(f"--out {args.out}: {os.path.join(args.out, name)} is a directory; "
                       f"remove it or choose another --out")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        fail_input(f"--out {args.out}: {e.strerror}")
    merged = {"ref": None, "new": None}
    for rnd in range(args.repetitions):
        order = ["ref", "new"] if rnd % 2 == 0 else ["new", "ref"]
        for side in order:
            binary = args.ref if side == "ref" else args.new
            out = os.path.join(args.out, f"{side}-{rnd}.json")
            print(f"round {rnd + 1}/{args.repetitions}: {side}", file=sys.stderr, flush=True)
            cmd = [binary, f"--benchmark_filter={args.filter}", "--benchmark_repetitions=1",
                   f"--benchmark_out={out}", "--benchmark_out_format=json"]
            if args.min_time:
                cmd.append(f"--benchmark_min_time={args.min_time}")
            try:
                gbench.run(cmd, f"the {side} binary ({binary})")
            except gbench.RunError as e:
                fail_input(str(e))
            if not os.path.exists(out) or os.path.getsize(out) == 0:
                if os.path.exists(out):
                    os.remove(out)
                fail_input(f"the filter {args.filter!r} matched no benchmark of the {side} "
                           f"binary ({binary})")
            try:
                context, runs, errored = gbench.load(out)
            except gbench.InputError as e:
                fail_input(f"the {side} binary ({binary}) wrote no usable results: {e}")
            finally:
                os.remove(out)
            if merged[side] is None:
                merged[side] = {"context": context, "benchmarks": [], "errors": {}}
            # compare.py cannot read an errored entry: the gate reads them from "errors".
            merged[side]["errors"].update(errored)
            for b in (entry for entries in runs.values() for entry in entries):
                b["run_name"] = b["name"]
                b["repetitions"] = args.repetitions
                b["repetition_index"] = rnd
                merged[side]["benchmarks"].append(b)
    paths = {}
    for side in ("ref", "new"):
        if not merged[side]["benchmarks"] and not merged[side]["errors"]:
            fail_input(f"the filter {args.filter!r} matched no benchmark of the {side} binary")
        paths[side] = os.path.join(args.out, f"{side}.json")
    write_json_files({paths[side]: merged[side] for side in ("ref", "new")})
    if os.path.exists(COMPARE):
        color = [] if sys.stdout.isatty() else ["--no-color"]
        sys.stdout.flush()
        subprocess.run(["/usr/bin/python3", COMPARE, *color, "benchmarks", paths["ref"],
                        paths["new"]], check=False)
    else:
        print(f"({COMPARE} not found: apt-get install libbenchmark-tools for its table)")
    print(f"\nJSON: {paths['ref']} {paths['new']}")
    return gate(paths["ref"], paths["new"], args.threshold, args.alpha)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--ref", required=True)
    r.add_argument("--new", required=True)
    r.add_argument("--filter", default="^train_step/")
    r.add_argument("--repetitions", type=int, default=9)
    r.add_argument("--min-time", default="")
    r.add_argument("--out", default="build/perf-compare")
    for p in (r, sub.add_parser("gate")):
        p.add_argument("--threshold", type=float, default=0.05)
        p.add_argument("--alpha", type=float, default=0.05)
    g = sub.choices["gate"]
    g.add_argument("ref_json")
    g.add_argument("new_json")
    args = parser.parse_args()
    if not 0 < args.threshold < 1:
        fail_input(f"--threshold {args.threshold}: use a fraction in (0, 1), e.g. 0.05")
    if not 0 < args.alpha < 1:
        fail_input(f"--alpha {args.alpha}: use a significance level in (0, 1), e.g. 0.05")
    if args.command == "gate":
        return gate(args.ref_json, args.new_json, args.threshold, args.alpha)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
