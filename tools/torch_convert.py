#!/usr/bin/python3
"""Moves the weights of a torch.nn.Sequential of Linear layers to and from descent.

descent keeps all parameters in one flat float32 buffer in nn.Linear order: for each layer,
the weight [out, in] row-major, then the bias [out]. This script reads and writes that buffer
as a little-endian float32 file, which `descent train --init FILE` and
descent::load_parameters read, and descent::save_parameters writes.

  torch_convert.py to-flat MODEL.pt OUT.bin
      MODEL.pt is a torch.save()d nn.Sequential, or its state_dict; the Linear layers are taken
      in order (activations and other parameter-free modules are skipped; a module with
      parameters of another kind, such as LayerNorm or Conv2d, is refused).
  torch_convert.py from-flat IN.bin OUT.pt --sizes 64,128,10 [--activation relu]
      builds nn.Sequential(Linear(64,128), ReLU(), Linear(128,10)) with the file's weights and
      torch.save()s it.
  torch_convert.py from-model MODEL.bin OUT.pt
      builds the nn.Sequential of a descent model file (`descent train --save`): its sizes and
      activations from the file, and its input standardisation folded into the first Linear
      (W / std, b - W mean / std), so that the torch model takes raw inputs as
      `descent predict` does. Its outputs are the model's up to float rounding: logits, which
      predict turns into probabilities for cross_entropy and bce_with_logits.

Bad input exits 2 with the reason, and leaves no output file. Needs Debian's python3-torch;
run it with /usr/bin/python3.
"""
import argparse
import os
import sys
import tempfile

import torch

import figure_io  # beside this script: the output rules the figure scripts follow

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "identity": torch.nn.Identity}


def fail(message):
    """Bad input: the reason on stderr, exit 2 (as the descent CLI does)."""
    print(f"torch_convert.py: {message}", file=sys.stderr)
    sys.exit(2)


def check_input(path):
    """Exit 2 unless `path` is a regular file."""
    if not os.path.isfile(path):
        fail(f"{path}: no such file" if not os.path.exists(path) else f"{path}: not a regular file")


def check_output(path, source):
    """The file to write for `path` (the file a symbolic link names; the link stays), or exit 2
    where it cannot be: a directory, a missing directory, something other than a regular file
    (renaming the result over /dev/null would replace the device), or the input itself."""
    if os.path.isdir(path):
        fail(f"{path} is a directory; name the file to write")
    real = figure_io.output_path("torch_convert.py", path)
    if os.path.exists(real) and os.path.samefile(real, source):
        fail(f"{path} is the input {source}: it would be overwritten; name another file")
    parent = os.path.dirname(real) or "."
    if not os.path.isdir(parent):
        fail(f"{path}: the directory {parent} does not exist")
    return real


def write_atomically(path, save):
    """Calls save(temporary path) and renames the result over `path`, so that a failure leaves
    no half-written file."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".torch_convert.")
        os.close(fd)
        save(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            fail(f"cannot write {path}: {e.strerror}")
        raise


def linear_tensors(obj, name):
    """The (weight, bias) pairs of the Linear layers, in order; exit 2 for anything descent
    cannot hold."""
    if isinstance(obj, torch.nn.Module):
        pairs, seen = [], set()
        for module_name, m in obj.named_modules(remove_duplicate=False):
            if id(m) in seen and any(True for _ in m.parameters()):
                fail(f"{name}: layer {module_name!r} is a module used twice; descent's layers "
                     f"have weights of their own")
            seen.add(id(m))
            own = list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))
            if isinstance(m, torch.nn.Linear):
                if m.bias is None:
                    fail(f"{name}: Linear layer {module_name!r} has no bias; descent's layers "
                         f"all have one")
                pairs.append((f"layer {module_name!r}", m.weight, m.bias))
            elif own:
                fail(f"{name}: layer {module_name!r} ({type(m).__name__}) has parameters "
                     f"descent cannot hold; only Linear layers and parameter-free activations "
                     f"convert")
        if not pairs:
            fail(f"{name}: the model has no Linear layers")
        return pairs
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                fail(f"{name}: key {k!r} ({type(k).__name__}) is not a parameter name: "
                     f"expected an nn.Sequential or its state_dict")
            if not isinstance(v, torch.Tensor):
                fail(f"{name}: key {k!r} holds a value of type {type(v).__name__}, not a "
                     f"tensor: expected an "
                     f"nn.Sequential or its state_dict (from a checkpoint, save "
                     f"model.state_dict())")
        pairs = []
        for k in obj:
            if k.endswith("weight"):
                b = k[: -len("weight")] + "bias"
                w = obj[k]
                if w.dim() != 2 or b not in obj:
                    fail(f"{name}: {k} is not the weight of a Linear layer with a bias")
                if tuple(obj[b].shape) != (w.shape[0],):
                    fail(f"{name}: {b} has shape {tuple(obj[b].shape)}; {k} [{w.shape[0]}, "
                         f"{w.shape[1]}] needs ({w.shape[0]},)")
                pairs.append((k[: -len(".weight")] or k, w, obj[b]))
            elif not (k.endswith("bias") and k[: -len("bias")] + "weight" in obj):
                fail(f"{name}: {k} belongs to no Linear layer; descent holds Linear layers only")
        if not pairs:
            fail(f"{name}: the state_dict has no Linear layers")
        return pairs
    fail(f"{name}: expected an nn.Module or a state_dict, got a {type(obj).__name__}")


def dense_values(name, what, t):
    """A parameter as a dense float32 CPU tensor; exit 2 for one descent cannot hold as it is
    (float() would drop an imaginary part, and sparse and meta tensors have no dense values)."""
    if t.is_meta:
        fail(f"{name}: {what} is a meta tensor (a shape without values)")
    if t.layout != torch.strided:
        fail(f"{name}: {what} is a {str(t.layout).replace('torch.', '')} tensor; descent holds "
             f"dense values (convert it with .to_dense())")
    if t.is_quantized or t.is_complex():
        fail(f"{name}: {what} holds {str(t.dtype).replace('torch.', '')} values; descent holds "
             f"real float32")
    return t.detach().float()


def to_flat(args):
    check_input(args.model)
    out = check_output(args.out, args.model)
    try:
        obj = torch.load(args.model, map_location="cpu")
    except Exception as e:  # torch.load raises whatever unpickling met
        fail(f"cannot read {args.model} as a torch.save() file: {type(e).__name__}: {e}")
    pairs = linear_tensors(obj, args.model)
    parts = []
    for i, (what, w, b) in enumerate(pairs):
        if i > 0 and w.shape[1] != pairs[i - 1][1].shape[0]:
            fail(f"{args.model}: {what} takes {w.shape[1]} inputs but the layer before gives "
                 f"{pairs[i - 1][1].shape[0]}")
        # descent's reader refuses a layer without inputs or units (lib/io/model_file.cpp).
        if w.shape[0] == 0 or w.shape[1] == 0:
            fail(f"{args.model}: {what} has {w.shape[1]} inputs and {w.shape[0]} units; "
                 f"descent's layers have at least one of each")
        for t in (w, b):
            values = dense_values(args.model, what, t)
            if not torch.isfinite(values).all():
                fail(f"{args.model}: {what} holds NaN or infinite values")
            parts.append(values.reshape(-1))
    flat = torch.cat(parts).contiguous()
    if flat.numel() > MAX_PARAMETERS:
        fail(f"{args.model}: {flat.numel()} parameters; descent holds at most {MAX_PARAMETERS}")
    # numpy writes the host's byte order; descent reads little-endian.
    data = flat.numpy().astype("<f4").tobytes()

    def save(path):
        with open(path, "wb") as f:
            f.write(data)
    write_atomically(out, save)
    sizes = [pairs[0][1].shape[1]] + [w.shape[0] for _, w, _ in pairs]
    print(f"wrote {args.out}: {flat.numel()} parameters, sizes {','.join(map(str, sizes))}")


def from_flat(args):
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        fail(f"--sizes {args.sizes} is not a list of integers")
    if len(sizes) < 2:
        fail(f"--sizes {args.sizes}: give at least an input and an output size")
    if min(sizes) < 1:
        fail(f"--sizes {args.sizes}: every size must be at least 1")
    # The file's size first: a model as large as the sizes ask for is built only to hold it.
    expected = sum(sizes[i + 1] * (sizes[i] + 1) for i in range(len(sizes) - 1))
    check_input(args.flat)
    out = check_output(args.out, args.flat)
    size = os.path.getsize(args.flat)
    if size != 4 * expected:
        fail(f"{args.flat} holds {size / 4:g} floats; sizes {args.sizes} need {expected}")
    try:
        with open(args.flat, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read {args.flat}: {e.strerror}")
    import numpy
    values = numpy.frombuffer(data, dtype="<f4").astype("float32")
    if not numpy.isfinite(values).all():
        fail(f"{args.flat}: parameter {int(numpy.argmin(numpy.isfinite(values)))} is not finite")
    hidden = ACTIVATIONS[args.activation]
    model = sequential(sizes, [hidden] * (len(sizes) - 2) + [torch.nn.Identity],
                       torch.from_numpy(values.copy()))
    write_atomically(out, lambda path: torch.save(model, path))
    print(f"wrote {args.out}: {model}")


def sequential(sizes, activations, flat):
    """nn.Sequential of Linear(sizes[i], sizes[i + 1]) each followed by activations[i] (none for
    Identity), its parameters taken in order from the float tensor `flat`."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if activations[i] is not torch.nn.Identity:
            layers.append(activations[i]())
    model = torch.nn.Sequential(*layers)
    offset = 0
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                for p in (m.weight, m.bias):
                    p.copy_(flat[offset:offset + p.numel()].reshape(p.shape))
                    offset += p.numel()
    return model


FLOAT32_MIN_NORMAL = 1.1754943508222875e-38
# descent's limits (kMaxParameters in include/descent/network.hpp; the model file reader's
# kMaxUnits and kMaxLayers follow from it).
MAX_PARAMETERS = 2 ** 31
MAX_LAYERS = MAX_PARAMETERS // 2
# The loss tags of a model file: 0 none, 1 mse, 2 cross_entropy, 3 bce_with_logits.
CROSS_ENTROPY = 2
LOSS_TAGS = 4

# The activations by descent's codes in a model file (Activation: identity, relu, sigmoid, tanh).
MODEL_ACTIVATIONS = [ACTIVATIONS[name] for name in ("identity", "relu", "sigmoid", "tanh")]


def from_model(args):
    import math
    import struct
    import zlib
    check_input(args.model)
    out = check_output(args.out, args.model)
    try:
        with open(args.model, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read {args.model}: {e.strerror}")
    if data[:8] != b"DESCENTM":
        fail(f"{args.model}: not a descent model file (bad magic)")
    if len(data) < 40 or zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        fail(f"{args.model}: corrupted model file (the CRC does not match)")
    pos = 8

    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data) - 4:
            fail(f"{args.model}: truncated model file")
        values = struct.unpack_from(fmt, data, pos)
        pos += size
        return values

    # What descent's reader refuses, it refuses too (parse_model in lib/io/model_file.cpp).
    version, loss = take("<II")
    if version != 1:
        fail(f"{args.model}: model file version {version}; this script reads version 1")
    if loss >= LOSS_TAGS:
        fail(f"{args.model}: corrupted model file: loss tag {loss}")
    inputs, count = take("<QQ")
    if count == 0:
        fail(f"{args.model}: corrupted model file: no layers")
    if inputs == 0 or inputs > MAX_PARAMETERS or count > MAX_LAYERS:
        fail(f"{args.model}: corrupted model file: {inputs} inputs, {count} layers")
    sizes, activations = [inputs], []
    for layer in range(count):
        units, activation, zero = take("<QII")
        if units == 0 or units > MAX_PARAMETERS or activation >= len(MODEL_ACTIVATIONS) or zero:
            fail(f"{args.model}: corrupted model file: layer {layer + 1} has {units} units, "
                 f"activation {activation}" + (f", reserved field {zero}" if zero else ""))
        sizes.append(units)
        activations.append(MODEL_ACTIVATIONS[activation])
    (standardised,) = take("<Q")
    if standardised not in (0, inputs):
        fail(f"{args.model}: corrupted model file: a standardisation of {standardised} features "
             f"for {inputs} inputs")
    mean = list(take(f"<{standardised}f")) if standardised else []
    stddev = list(take(f"<{standardised}f")) if standardised else []
    if not all(math.isfinite(m) for m in mean) or \
            not all(math.isfinite(d) and d >= FLOAT32_MIN_NORMAL for d in stddev):
        fail(f"{args.model}: corrupted model file: a standardisation mean that is not finite or "
             "a deviation that is not a normal number > 0")
    (count,) = take("<Q")
    expected = sum(sizes[i + 1] * (sizes[i] + 1) for i in range(len(sizes) - 1))
    if count != expected or pos + 4 * count != len(data) - 4:
        fail(f"{args.model}: corrupted model file: {count} parameters for sizes {sizes}")
    flat = torch.tensor(struct.unpack_from(f"<{count}f", data, pos), dtype=torch.float32)
    if not torch.isfinite(flat).all():
        fail(f"{args.model}: corrupted model file: a parameter is not finite")
    if loss == CROSS_ENTROPY and sizes[-1] < 2:
        fail(f"{args.model}: the model records the loss cross_entropy but has {sizes[-1]} output "
             f"(it needs one per class, at least 2)")
    model = sequential(sizes, activations, flat)
    with torch.no_grad():
        if standardised:
            # W ((x - mean) / std) + b = (W / std) x + (b - (W / std) mean), in double.
            first = model[0]
            w = first.weight.double() / torch.tensor(stddev, dtype=torch.float64)
            b = first.bias.double() - w @ torch.tensor(mean, dtype=torch.float64)
            # A tiny deviation under a large weight or mean folds past float32's range.
            if not (torch.isfinite(w.float()).all() and torch.isfinite(b.float()).all()):
                fail(f"{args.model}: its standardisation cannot be folded into the first Linear: "
                     f"W / std or b - W mean / std exceeds float32's range")
            first.weight.copy_(w.float())
            first.bias.copy_(b.float())
    write_atomically(out, lambda path: torch.save(model, path))
    folded = " (its standardisation folded into the first Linear)" if standardised else ""
    print(f"wrote {args.out}{folded}: {model}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-flat", help="torch model -> flat float32 file")
    a.add_argument("model")
    a.add_argument("out")
    b = sub.add_parser("from-flat", help="flat float32 file -> torch nn.Sequential")
    b.add_argument("flat")
    b.add_argument("out")
    b.add_argument("--sizes", required=True)
    b.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    c = sub.add_parser("from-model", help="descent model file -> torch nn.Sequential")
    c.add_argument("model")
    c.add_argument("out")
    args = parser.parse_args()
    {"to-flat": to_flat, "from-flat": from_flat, "from-model": from_model}[args.command](args)


if __name__ == "__main__":
    main()
