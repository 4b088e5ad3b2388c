#!/usr/bin/python3
"""Tests of torch_convert.py (run by ctest where Debian's python3-torch is installed): a round
trip is exact, a descent model file becomes a torch model with the same outputs, and what
descent cannot hold exits 2 with the reason and writes nothing.

Usage: torch_convert_test.py DESCENT_CLI DATA_DIR"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "torch_convert.py")


def convert(*args):
    r = subprocess.run(["/usr/bin/python3", SCRIPT, *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def model_outputs_match(cli, data_dir, path, failures):
    """A model descent trained and saved, converted with from-model: torch's outputs on the raw
    rows are those `descent predict` prints (class probabilities; raw outputs for mse)."""
    import csv
    for data, args, columns in (("iris", ["--hidden", "8"], 4),
                                ("iris", ["--hidden", "8", "--no-standardize"], 4),
                                ("diabetes", ["--hidden", "8,4", "--activation", "tanh"], 10)):
        name = f"{data}{len(args)}"
        r = subprocess.run([cli, "train", "--data", data, "--epochs", "20", "--quiet", "--save",
                            path(name + ".model"), *args], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"descent train {data} {args}: exit {r.returncode}\n{r.stderr}")
            continue
        code, out = convert("from-model", path(name + ".model"), path(name + ".pt"))
        if code != 0:
            failures.append(f"from-model {name}: exit {code}\n{out}")
            continue
        r = subprocess.run([cli, "predict", "--model", path(name + ".model"), "--data", data],
                           capture_output=True, text=True)
        predicted = [[float(v) for v in line.split(",")] for line in r.stdout.splitlines()[1:]]
        with open(os.path.join(data_dir, data + ".csv")) as f:
            rows = [[float(v) for v in row[:columns]] for row in list(csv.reader(f))[1:]]
        model = torch.load(path(name + ".pt"))
        with torch.no_grad():
            out = model(torch.tensor(rows, dtype=torch.float32))
        expected = torch.softmax(out, 1) if data == "iris" else out
        got = torch.tensor([p[1:] if data == "iris" else p for p in predicted])
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            failures.append(f"from-model {name}: torch's outputs differ from descent predict's")


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        model_outputs_match(sys.argv[1], sys.argv[2], path, failures)
        with open(path("garbage.model"), "w") as f:
            f.write("DESCENTM and then garbage\n")

        def model_file(name, inputs, layers, standardised, mean, stddev, params, loss=1, zero=0):
            """A model file in descent's format (lib/io/model_file.cpp), its CRC right; the
            loss mse unless told."""
            import struct
            import zlib
            body = b"DESCENTM" + struct.pack("<IIQQ", 1, loss, inputs, len(layers))
            for units, activation in layers:
                body += struct.pack("<QII", units, activation, zero)
            body += struct.pack("<Q", standardised)
            body += struct.pack(f"<{len(mean)}f", *mean) + struct.pack(f"<{len(stddev)}f", *stddev)
            body += struct.pack(f"<Q{len(params)}f", len(params), *params)
            with open(path(name), "wb") as f:
                f.write(body + struct.pack("<I", zlib.crc32(body)))

        model_file("nolayers.model", 2, [], 0, [], [], [])
        model_file("scaling.model", 2, [(1, 0)], 3, [0, 0, 0], [1, 1, 1], [1, 2, 3])
        model_file("zerodev.model", 2, [(1, 0)], 2, [0, 0], [1, 0], [1, 2, 3])
        model_file("good.model", 2, [(1, 0)], 2, [1, 2], [2, 4], [1, 2, 3])
        # What descent's reader refuses as well (parse_model in lib/io/model_file.cpp).
        model_file("nounits.model", 2, [(0, 0)], 0, [], [], [])
        model_file("noinputs.model", 0, [(2, 0)], 0, [], [], [1, 2])
        model_file("loss9.model", 2, [(2, 0)], 0, [], [], [1] * 6, loss=9)
        model_file("reserved.model", 2, [(2, 0)], 0, [], [], [1] * 6, zero=5)
        model_file("ce1.model", 2, [(1, 0)], 0, [], [], [1] * 3, loss=2)
        # Valid for descent, but W / std overflows float32 once folded.
        model_file("overflow.model", 2, [(1, 0)], 2, [3e38, 0], [1.2e-38, 1], [1, 1, 1])
        code, out = convert("from-model", path("good.model"), path("good.pt"))
        if code != 0:
            failures.append(f"from-model good.model: exit {code}\n{out}")
        else:
            # y = (x - mean) / std . w + b, folded: x = (3, 6) gives 1 * 1 + 2 * 1 + 3 = 6.
            y = torch.load(path("good.pt"))(torch.tensor([[3.0, 6.0]])).item()
            if abs(y - 6.0) > 1e-6:
                failures.append(f"from-model good.model: {y}, expected 6")
        for args, reason in [
                (("from-model", path("iris3.pt"), path("z.pt")), "not a descent model file"),
                (("from-model", path("garbage.model"), path("z.pt")), "CRC does not match"),
                (("from-model", path("missing.model"), path("z.pt")), "no such file"),
                (("from-model", path("nolayers.model"), path("z.pt")), "no layers"),
                (("from-model", path("scaling.model"), path("z.pt")), "of 3 features for 2"),
                (("from-model", path("zerodev.model"), path("z.pt")), "not a normal number"),
                (("from-model", path("nounits.model"), path("z.pt")), "layer 1 has 0 units"),
                (("from-model", path("noinputs.model"), path("z.pt")), "0 inputs"),
                (("from-model", path("loss9.model"), path("z.pt")), "loss tag 9"),
                (("from-model", path("reserved.model"), path("z.pt")), "reserved field 5"),
                (("from-model", path("ce1.model"), path("z.pt")), "but has 1 output"),
                (("from-model", path("overflow.model"), path("z.pt")), "float32's range")]:
            code, out = convert(*args)
            if code != 2 or reason not in out or "Traceback" in out or os.path.exists(path("z.pt")):
                failures.append(f"{' '.join(args)}: exit {code}, expected 2 with {reason!r}\n{out}")

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
            "intkey.pt": ({1: torch.zeros(3, 4)}, "key 1 (int) is not a parameter name"),
            "sparse.pt": ({"fc.weight": torch.zeros(3, 4).to_sparse(), "fc.bias": torch.zeros(3)},
                          "sparse_coo tensor"),
            "meta.pt": (torch.nn.Sequential(torch.nn.Linear(4, 3, device="meta")),
                        "is a meta tensor"),
            "complex.pt": ({"fc.weight": torch.ones(3, 4, dtype=torch.complex64),
                            "fc.bias": torch.zeros(3, dtype=torch.complex64)},
                           "holds complex64 values"),
            "nounits.pt": (torch.nn.Sequential(torch.nn.Linear(4, 0)), "4 inputs and 0 units"),
            "noinputs.pt": (torch.nn.Sequential(torch.nn.Linear(0, 3)), "0 inputs and 3 units"),
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
        # The input as the output (by name or through a link) would be destroyed; a pipe as the
        # output would be replaced by the renamed file; a link elsewhere is written through.
        shutil.copy(path("model.pt"), path("keep.pt"))
        with open(path("keep.pt"), "rb") as f:
            kept = f.read()
        os.symlink("keep.pt", path("keep-link.pt"))
        os.mkfifo(path("pipe.bin"))
        os.symlink("through.bin", path("link.bin"))
        for args, reason in [
                (("to-flat", path("keep.pt"), path("keep.pt")), "it would be overwritten"),
                (("to-flat", path("keep.pt"), path("keep-link.pt")), "it would be overwritten"),
                (("to-flat", path("keep.pt"), path("pipe.bin")), "not a regular file")]:
            code, out = convert(*args)
            if code != 2 or reason not in out or "Traceback" in out:
                failures.append(f"{' '.join(args)}: exit {code}, expected 2 with {reason!r}\n{out}")
        with open(path("keep.pt"), "rb") as f:
            if f.read() != kept:
                failures.append("to-flat with its input as the output changed the input")
        if not stat.S_ISFIFO(os.lstat(path("pipe.bin")).st_mode):
            failures.append("to-flat replaced the pipe it was given as its output")
        code, out = convert("to-flat", path("keep.pt"), path("link.bin"))
        if code != 0 or not os.path.islink(path("link.bin")) or \
                os.path.getsize(path("through.bin")) != 67 * 4:
            failures.append(f"to-flat through a link: exit {code}, the link or its file wrong\n{out}")
    for f in failures:
        print("FAIL " + f)
    print(f"torch_convert tests: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
