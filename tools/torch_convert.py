#!/usr/bin/python3
"""Moves the weights of a torch.nn.Sequential of Linear layers to and from descent.

descent keeps all parameters in one flat float32 buffer in nn.Linear order: for each layer,
the weight [out, in] row-major, then the bias [out]. This script reads and writes that buffer
as a little-endian float32 file, which `descent train --init FILE` and
descent::load_parameters read, and descent::save_parameters writes.

  torch_convert.py to-flat MODEL.pt OUT.bin
      MODEL.pt is a torch.save()d nn.Sequential, or its state_dict; the Linear layers are taken
      in order (activations and other parameter-free modules are skipped).
  torch_convert.py from-flat IN.bin OUT.pt --sizes 64,128,10 [--activation relu]
      builds nn.Sequential(Linear(64,128), ReLU(), Linear(128,10)) with the file's weights and
      torch.save()s it.

Needs Debian's python3-torch; run it with /usr/bin/python3.
"""
import argparse
import sys

import torch

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "identity": torch.nn.Identity}


def linear_tensors(obj):
    """The (weight, bias) pairs of the Linear layers, in order."""
    if isinstance(obj, torch.nn.Module):
        layers = [m for m in obj.modules() if isinstance(m, torch.nn.Linear)]
        if not layers:
            sys.exit("torch_convert.py: the model has no Linear layers")
        pairs = []
        for m in layers:
            if m.bias is None:
                sys.exit("torch_convert.py: a Linear layer without bias has no descent equivalent")
            pairs.append((m.weight, m.bias))
        return pairs
    if isinstance(obj, dict):
        weights = [k for k in obj if k.endswith("weight")]
        pairs = []
        for k in weights:
            b = k[: -len("weight")] + "bias"
            if b not in obj or obj[k].dim() != 2:
                sys.exit(f"torch_convert.py: {k} is not a Linear layer with a bias")
            pairs.append((obj[k], obj[b]))
        return pairs
    sys.exit("torch_convert.py: expected an nn.Module or a state_dict")


def to_flat(args):
    obj = torch.load(args.model, map_location="cpu")
    pairs = linear_tensors(obj)
    parts = []
    for i, (w, b) in enumerate(pairs):
        if i > 0 and w.shape[1] != pairs[i - 1][0].shape[0]:
            sys.exit(f"torch_convert.py: layer {i + 1} takes {w.shape[1]} inputs but layer {i} "
                     f"gives {pairs[i - 1][0].shape[0]}")
        parts += [w.detach().float().reshape(-1), b.detach().float().reshape(-1)]
    flat = torch.cat(parts).contiguous()
    # numpy writes the host's byte order; descent reads little-endian.
    data = flat.numpy().astype("<f4").tobytes()
    with open(args.out, "wb") as f:
        f.write(data)
    sizes = [pairs[0][0].shape[1]] + [w.shape[0] for w, _ in pairs]
    print(f"wrote {args.out}: {flat.numel()} parameters, sizes {','.join(map(str, sizes))}")


def from_flat(args):
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sys.exit(f"torch_convert.py: --sizes {args.sizes} is not a list of integers")
    if len(sizes) < 2 or min(sizes) < 1:
        sys.exit("torch_convert.py: --sizes needs at least an input and an output size")
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(ACTIVATIONS[args.activation]())
    model = torch.nn.Sequential(*layers)
    with open(args.flat, "rb") as f:
        data = f.read()
    expected = sum(p.numel() for p in model.parameters())
    if len(data) != 4 * expected:
        sys.exit(f"torch_convert.py: {args.flat} holds {len(data) // 4} floats; sizes "
                 f"{args.sizes} need {expected}")
    import numpy
    flat = torch.from_numpy(numpy.frombuffer(data, dtype="<f4").astype("float32").copy())
    offset = 0
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                for p in (m.weight, m.bias):
                    p.copy_(flat[offset:offset + p.numel()].reshape(p.shape))
                    offset += p.numel()
    torch.save(model, args.out)
    print(f"wrote {args.out}: {model}")


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
    args = parser.parse_args()
    to_flat(args) if args.command == "to-flat" else from_flat(args)


if __name__ == "__main__":
    main()
