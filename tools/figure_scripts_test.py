#!/usr/bin/python3
"""Tests of the figure scripts (run by ctest): each draws what the CLI writes, --help exits 0,
and bad input or a bad output path exits 2 with one line, no traceback and no file. Also
from a copy of the scripts alone, as they are installed in share/descent.

usage: figure_scripts_test.py DESCENT_CLI
"""
import json
import os
import shutil
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
