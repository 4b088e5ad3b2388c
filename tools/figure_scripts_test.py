#!/usr/bin/python3
"""Tests of the figure scripts (run by ctest): each draws what the CLI writes, --help exits 0,
and bad input or a bad output path exits 2 with one line, no traceback and no file. Also
from a copy of the scripts alone, as they are installed in share/descent.

usage: figure_scripts_test.py DESCENT_CLI
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ("plot_history.py", "plot_sweep.py", "plot_trace.py")


def run(*args):
    r = subprocess.run(["/usr/bin/python3", *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def main():
    cli = sys.argv[1]
    failures = []

    def expect(what, result, status, needle=""):
        code, out, err = result
        if code != status or needle not in out + err or "Traceback" in err:
            failures.append(f"{what}: exit {code}, expected {status} with {needle!r}\n{out}{err}")

    with tempfile.TemporaryDirectory() as tmp:
        def path(*parts):
            return os.path.join(tmp, *parts)

        # Inputs as the CLI writes them.
        subprocess.run([cli, "train", "--data", "iris", "--epochs", "3", "--quiet", "--history",
                        path("h.csv")], check=True, capture_output=True)
        subprocess.run([cli, "sweep", "--data", "iris", "--batch", "16", "--lr", "0.1",
                        "--threads", "1", "--max-epochs", "2", "--target-accuracy", "0.5",
                        "--no-plots", "--quiet", "--out", path("sweep")], check=True,
                       capture_output=True)
        subprocess.run([cli, "lr-demo", "--steps", "10", "--no-plots", "--out", path("demo")],
                       check=True, capture_output=True)
        inputs = {"plot_history.py": path("h.csv"),
                  "plot_sweep.py": path("sweep", "results.json"),
                  "plot_trace.py": path("demo", "lr_demo.json")}
        os.mkdir(path("figures"))

        def output(script):
            return path("figures") if script == "plot_sweep.py" else path("figures", "f.png")

        for script in SCRIPTS:
            s = os.path.join(HERE, script)
            expect(f"{script} --help", run(s, "--help"), 0, "usage")
            expect(f"{script} without arguments", run(s), 2, "expected 2 arguments")
            expect(f"{script} draws", run(s, inputs[script], output(script)), 0)
            with open(path("bad.json" if script != "plot_history.py" else "bad.csv"), "w") as f:
                f.write('{"kind": "trace", "dimension": 2.5}' if script == "plot_trace.py" else
                        "epoch,train_loss,val_loss,val_accuracy\n1,x,,\n"
                        if script == "plot_history.py" else '{"runs": []}')
            bad = path("bad.json" if script != "plot_history.py" else "bad.csv")
            out_dir = path("bad_out")
            os.mkdir(out_dir)
            target = out_dir if script == "plot_sweep.py" else os.path.join(out_dir, "f.png")
            expect(f"{script} on bad input", run(s, bad, target), 2, script)
            if os.listdir(out_dir):
                failures.append(f"{script}: bad input left {os.listdir(out_dir)}")
            shutil.rmtree(out_dir)
        for script in ("plot_history.py", "plot_trace.py"):
            s = os.path.join(HERE, script)
            expect(f"{script} into a directory", run(s, inputs[script], path("figures")), 2,
                   "is a directory")
            expect(f"{script} to .xyz", run(s, inputs[script], path("f.xyz")), 2, ".png")
            expect(f"{script} into a missing directory",
                   run(s, inputs[script], path("none", "f.png")), 2, "does not exist")
        expect("plot_sweep.py into a missing directory",
               run(os.path.join(HERE, "plot_sweep.py"), inputs["plot_sweep.py"], path("none")), 2,
               "does not exist")
        for name in ("loss_curves.png", "throughput.png", "pareto.png"):
            if not os.path.isfile(path("figures", name)):
                failures.append(f"plot_sweep.py wrote no {name}")

        history_script, sweep_script, trace_script = (os.path.join(HERE, s) for s in SCRIPTS)
        with open(inputs["plot_sweep.py"]) as f:
            sweep = json.load(f)
        with open(inputs["plot_trace.py"]) as f:
            demo = json.load(f)
        with open(inputs["plot_history.py"]) as f:
            history_lines = f.read().splitlines()

        def write(name, content):
            """A file in tmp (JSON for a dict or a list, else text); its path."""
            with open(path(name), "w") as f:
                f.write(json.dumps(content) if isinstance(content, (dict, list)) else content)
            return path(name)

        def sweep_with(name, change):
            doc = json.loads(json.dumps(sweep))
            change(doc)
            return write(name, doc)

        def demo_with(name, change):
            doc = json.loads(json.dumps(demo))
            change(doc)
            return write(os.path.join("demo", name), doc)

        # User text with "$" is drawn as it is, not parsed as mathtext.
        expect("a title with $", run(history_script, inputs["plot_history.py"], path("d1.png"),
                                     "--title", "$x^$"), 0)
        dollar = sweep_with("dollar.json", lambda d: (d.update(data="d$x^$/ir$^$is.csv"),
                                                      d["runs"][0].update(optimizer="s$g^$d")))
        expect("a data path with $", run(sweep_script, dollar, path("figures")), 0)
        dollar = demo_with("dollar.json", lambda d: (d.update(function="$x^$"), [
            r.update(label="$^$") for r in d["runs"]]))
        expect("labels with $", run(trace_script, dollar, path("d2.png")), 0)

        # JSON nested too deeply for the parser's recursion; numbers no float holds.
        deep = write("deep.json", "[" * 100000 + "]" * 100000)
        expect("plot_sweep.py on deep JSON", run(sweep_script, deep, path("figures")), 2,
               "nested too deeply")
        expect("plot_trace.py on deep JSON", run(trace_script, deep, path("d3.png")), 2,
               "nested too deeply")
        huge = int("9" * 400)
        expect("a 400-digit lr", run(sweep_script, sweep_with(
            "huge.json", lambda d: d["runs"][0].update(lr=huge)), path("figures")), 2,
            "lr 999")
        inf_epoch = write("inf.csv", "\n".join(history_lines[:2] + [
            "inf" + history_lines[2][history_lines[2].index(","):]] + history_lines[3:]) + "\n")
        expect("an epoch of inf", run(history_script, inf_epoch, path("d4.png")), 2,
               "epoch 'inf' is not a whole number")
        first_csv = os.path.join(path("demo"), demo["runs"][0]["csv"])
        with open(first_csv) as f:
            rows = f.read().splitlines()
        write(os.path.join("demo", "inf_step.csv"),
              "\n".join(rows[:2] + ["inf" + rows[2][rows[2].index(","):]] + rows[3:]) + "\n")
        expect("a step of inf", run(trace_script, demo_with(
            "inf_step.json", lambda d: d["runs"][0].update(csv="inf_step.csv")), path("d5.png")),
            2, "step 'inf' is not a whole number")
        write("lr_find.csv", "step,lr,loss,smoothed_loss\n0,1e-07,1.5,1.5\n1,1e-06,1.4,1.45\n"
              "2,1e308,1.3,1.4\n")
        expect("an lr of 1e308", run(trace_script, write("lr_find.json", {
            "kind": "lr_find", "csv": "lr_find.csv", "data": "iris"}), path("d6.png")), 2,
            "lr '1e308' is not a number")

        # Every figure or none: a directory where pareto.png goes leaves the old files as they
        # were and writes nothing.
        os.makedirs(path("partial", "pareto.png"))
        write(os.path.join("partial", "loss_curves.png"), "old")
        expect("plot_sweep.py with a directory in the way",
               run(sweep_script, inputs["plot_sweep.py"], path("partial")), 2, "is a directory")
        with open(path("partial", "loss_curves.png"), "rb") as f:
            if f.read() != b"old":
                failures.append("plot_sweep.py: a failed run replaced loss_curves.png")
        if sorted(os.listdir(path("partial"))) != ["loss_curves.png", "pareto.png"]:
            failures.append(f"plot_sweep.py: a failed run left {os.listdir(path('partial'))}")

        # A rename that fails after others were done (a file of another user in a sticky
        # directory) puts the replaced files back.
        os.mkdir(path("rollback"))
        write(os.path.join("rollback", "a.png"), "old a")
        rollback = run("-c", f"""
import os, sys
sys.path.insert(0, {HERE!r})
import figure_io
import matplotlib.pyplot as plt
rename = os.replace
def failing(src, dst):
    if dst.endswith("c.png"):
        raise PermissionError(1, "Operation not permitted")
    rename(src, dst)
os.replace = failing
figure_io.save_all("test", [(plt.figure(), os.path.join({path("rollback")!r}, n))
                            for n in ("a.png", "b.png", "c.png")])
""")
        expect("a rename that fails", rollback, 2, "cannot write")
        with open(path("rollback", "a.png"), "rb") as f:
            if f.read() != b"old a" or os.listdir(path("rollback")) != ["a.png"]:
                failures.append(f"a failed rename left {os.listdir(path('rollback'))}")

        # What plot_sweep.py cannot draw is refused before any figure.
        os.mkdir(path("refused"))
        for what, change, needle in [
                ("a batch that is a list", lambda d: d["runs"][0].update(batch=[16]), "batch [16]"),
                ("a batch that is an object", lambda d: d["runs"][0].update(batch={}), "batch {}"),
                ("an epoch of 1e308", lambda d: d["runs"][0]["history"][0].update(epoch=1e308),
                 "epoch 1e+308")]:
            expect(f"plot_sweep.py on {what}",
                   run(sweep_script, sweep_with("refused.json", change), path("refused")), 2,
                   needle)
        if os.listdir(path("refused")):
            failures.append(f"plot_sweep.py: refused input left {os.listdir(path('refused'))}")
        # A sweep of many batch sizes (what descent sweep allows) is drawn, in a figure whose
        # sides stop growing at MAX_INCHES.
        os.mkdir(path("wide"))
        expect("plot_sweep.py on 30 batch sizes",
               run(sweep_script, sweep_with("wide.json", lambda d: d.update(runs=[
                   dict(d["runs"][0], batch=str(b), batch_size=b) for b in range(1, 31)])),
                   path("wide")), 0, "")

        # A dimension far beyond the CSV's columns: one short line, no 1e9 column names.
        for dimension in (1000000000, 3000000):
            code, out, err = run(trace_script, demo_with("dim.json", lambda d: d.update(
                kind="trace", dimension=dimension)), path("d7.png"))
            expect(f"dimension {dimension}", (code, out, err), 2, "lacks the column x1")
            if len(err) > 300:
                failures.append(f"dimension {dimension}: a {len(err)}-character message")

        # A duplicated column is named as such, not taken for a cut-off file.
        expect("a duplicated column", run(history_script, write(
            "dup.csv", "epoch,train_loss,val_loss,val_accuracy,val_loss\n1,0.5,0.4,0.8,0.4\n"),
            path("d8.png")), 2, "'val_loss' more than once")

        # Special files: a pipe as the output is refused and left a pipe (renaming a figure
        # over it would replace it, as over /dev/null); a device as the input is refused rather
        # than read forever; a link as the output is written through, and stays a link.
        os.mkfifo(path("pipe.png"))
        expect("plot_history.py into a pipe", run(history_script, inputs["plot_history.py"],
                                                 path("pipe.png")), 2, "not a regular file")
        if not stat.S_ISFIFO(os.lstat(path("pipe.png")).st_mode):
            failures.append("plot_history.py replaced the pipe it was given as its output")
        for script, out in (("plot_history.py", path("z.png")), ("plot_sweep.py", path("figures")),
                            ("plot_trace.py", path("z.png"))):
            expect(f"{script} reading /dev/zero", run(os.path.join(HERE, script), "/dev/zero", out),
                   2, "not a regular file")
        os.symlink("target.png", path("link.png"))
        expect("plot_history.py through a link",
               run(history_script, inputs["plot_history.py"], path("link.png")), 0)
        if not os.path.islink(path("link.png")) or not os.path.isfile(path("target.png")):
            failures.append("plot_history.py replaced the link it was given instead of its file")
        # Text of thousands of characters (a title, a data path) overflowed the renderer.
        expect("a 5000-character title", run(history_script, inputs["plot_history.py"],
                                             path("t.png"), "--title", "x" * 5000), 0)
        # Values no history holds: an accuracy that is no fraction, a loss of 1e308.
        for name, row, needle in (("acc.csv", "1,0.5,0.4,1e308", "not a fraction from 0 to 1"),
                                  ("big.csv", "1,1e308,0.4,0.5", "too large to draw")):
            expect(name, run(history_script, write(
                name, f"epoch,train_loss,val_loss,val_accuracy\n{row}\n"), path("v.png")), 2,
                needle)

        # As installed: the scripts and figure_io.py in a folder of their own.
        os.mkdir(path("share"))
        for name in SCRIPTS + ("figure_io.py",):
            shutil.copy(os.path.join(HERE, name), path("share", name))
        expect("an installed plot_history.py",
               run(path("share", "plot_history.py"), inputs["plot_history.py"], path("i.png")), 0)
    for f in failures:
        print("FAIL " + f)
    print(f"figure script tests: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
