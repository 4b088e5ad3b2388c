#!/usr/bin/python3
"""Tests of torch_convert.py (run by ctest where Debian's python3-torch is installed): a round
trip is exact, and what descent cannot hold exits 2 with the reason and writes nothing."""
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "torch_convert.py")


def convert(*args):
    r = subprocess.run(["/usr/bin/python3", SCRIPT, *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        torch.save(model, path("model.pt"))
        torch.save(model.state_dict(), path("state.pt"))
        for source in ("model.pt", "state.pt"):
            code, out = convert("to-flat", path(source), path(source + ".bin"))
            if code != 0 or "67 parameters, sizes 4,8,3" not in out:
                failures.append(f"to-flat {source}: exit {code}\n{out}")
        code, out = convert("from-flat", path("model.pt.bin"), path("back.pt"), "--sizes", "4,8,3")
        if code != 0:
            failures.append(f"from-flat: exit {code}\n{out}")
        else:
            back = torch.load(path("back.pt"))
            for p, q in zip(model.parameters(), back.parameters()):
                if not torch.equal(p, q):
                    failures.append("from-flat: the weights came back different")
        with open(path("model.pt.bin"), "rb") as f, open(path("state.pt.bin"), "rb") as g:
            if f.read() != g.read():
                failures.append("a model and its state_dict gave different files")

        # What descent cannot hold: exit 2, the reason, and no output file.
        bad_models = {
            "layernorm.pt": (torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8),
                                                 torch.nn.Linear(8, 3)),
                             "(LayerNorm) has parameters"),
            "conv.pt": (torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                                            torch.nn.Linear(8, 3)), "(Conv2d) has parameters"),
            "badbias.pt": ({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(5)},
                           "fc.bias has shape (5,)"),
            "nobias.pt": (torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False)), "has no bias"),
            "checkpoint.pt": ({"model": model.state_dict(), "epoch": 3}, "not a tensor"),
            "chain.pt": (torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(7, 3)),
                         "takes 7 inputs"),
        }
        for name, (obj, reason) in bad_models.items():
            torch.save(obj, path(name))
        with open(path("garbage.pt"), "w") as f:
            f.write("garbage\n")
        bad_models["garbage.pt"] = (None, "cannot read")
        for name, (_, reason) in bad_models.items():
            out_file = path(name + ".bin")
            code, out = convert("to-flat", path(name), out_file)
            if code != 2 or reason not in out or "Traceback" in out or os.path.exists(out_file):
                failures.append(f"to-flat {name}: exit {code}, expected 2 with {reason!r}\n{out}")
        for args, reason in [
                (("to-flat", path("missing.pt"), path("x.bin")), "no such file"),
                (("to-flat", path("model.pt"), path("nodir/x.bin")), "does not exist"),
                (("to-flat", path("model.pt"), tmp), "is a directory"),
                (("from-flat", path("model.pt.bin"), path("y.pt"), "--sizes", "4,9,3"), "need 75"),
                (("from-flat", path("model.pt.bin"), path("y.pt"), "--sizes", "4,0,3"),
                 "at least 1"),
                (("from-flat", path("model.pt.bin"), path("y.pt"), "--sizes", "100000,100000,3"),
                 "holds 67 floats")]:
            code, out = convert(*args)
            if code != 2 or reason not in out or "Traceback" in out:
                failures.append(f"{' '.join(args)}: exit {code}, expected 2 with {reason!r}\n{out}")
        if os.path.exists(path("y.pt")) or os.path.exists(path("x.bin")):
            failures.append("a refused conversion left a file behind")
    for f in failures:
        print("FAIL " + f)
    print(f"torch_convert tests: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
