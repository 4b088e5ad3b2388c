#!/usr/bin/python3
"""Plot a descent history CSV: loss per epoch (train and validation) and validation accuracy.

usage: plot_history.py HISTORY.csv OUT.png [--title TITLE]

Uses Debian's python3-matplotlib; run it with /usr/bin/python3.
"""
import collections
import csv
import math
import sys

from figure_io import (InputError, arguments, check_image_path, fail, not_regular,
                       require_matplotlib, save_all)

PROG = "plot_history.py"
require_matplotlib(PROG)
import matplotlib.pyplot as plt  # noqa: E402

NEEDED = ("epoch", "train_loss", "val_loss", "val_accuracy")
LOSS_LIMIT = 1e100


def number(row, where, column):
    cell = row[column]
    if cell in ("", None):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise InputError(f"{where}: {column} {cell!r} is not a number") from None


def read(path):
    if why := not_regular(path):
        raise InputError(why)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    # DictReader keeps the last of two equal names: every row would look a cell short.
    duplicates = sorted(c for c, n in collections.Counter(header).items() if n > 1)
    if duplicates:
        raise InputError(f"{path}: the header has the column name "
                         f"{', '.join(repr(c) for c in duplicates)} more than once")
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise InputError(f"{path} is not a descent history CSV: no column "
                         f"{', '.join(missing)}")
    if not rows:
        raise InputError(f"{path} holds a header but no epochs")
    columns = {c: [] for c in NEEDED}
    for i, row in enumerate(rows):
        line = i + 2
        cells = sum(v is not None for k, v in row.items() if k is not None)
        if None in row or cells != len(header):
            raise InputError(f"{path}: line {line} has {cells + len(row.get(None) or [])} "
                             f"cells, the header {len(header)} (a cut-off file?)")
        for c in NEEDED:
            columns[c].append(number(row, f"{path}: line {line}", c))
        # Bounded before int(): inf would raise, and matplotlib cannot tick an axis at 1e308.
        epoch = columns["epoch"][-1]
        if not 1 <= epoch <= 2 ** 53 or epoch != int(epoch):
            raise InputError(f"{path}: line {line}: epoch {row['epoch']!r} is not a whole "
                             f"number from 1 to 2^53")
        # An accuracy is a fraction; matplotlib cannot scale an axis to a loss of 1e308 (inf
        # and nan, a diverged run's, are left out of the drawing).
        for c in ("train_loss", "val_loss"):
            if math.isfinite(columns[c][-1]) and abs(columns[c][-1]) > LOSS_LIMIT:
                raise InputError(f"{path}: line {line}: {c} {row[c]!r} is too large to draw "
                                 f"(at most {LOSS_LIMIT:g})")
        if not (math.isnan(columns["val_accuracy"][-1]) or 0 <= columns["val_accuracy"][-1] <= 1):
            raise InputError(f"{path}: line {line}: val_accuracy {row['val_accuracy']!r} is not "
                             f"a fraction from 0 to 1")
    if not any(math.isfinite(v) and v > 0 for v in columns["train_loss"] + columns["val_loss"]):
        raise InputError(f"{path} holds no finite positive loss to draw")
    return columns


def main():
    # --title TITLE may come anywhere; the rest are the two paths.
    argv = sys.argv[1:]
    title = None
    if "--title" in argv:
        at = argv.index("--title")
        if at + 1 >= len(argv):
            fail(PROG, "--title needs a value")
        title = argv[at + 1]
        sys.argv[1:] = argv[:at] + argv[at + 2:]
    history, out = arguments(__doc__, 2, PROG)
    check_image_path(PROG, out)
    try:
        rows = read(history)
    except InputError as e:
        fail(PROG, str(e))

    epoch = [int(e) for e in rows["epoch"]]
    train_loss, val_loss, val_acc = rows["train_loss"], rows["val_loss"], rows["val_accuracy"]
    has_acc = any(not math.isnan(a) for a in val_acc)

    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4.2))
    loss_ax = axes[0] if has_acc else axes
    loss_ax.plot(epoch, train_loss, marker="o", ms=3, label="train loss")
    if any(not math.isnan(v) for v in val_loss):
        loss_ax.plot(epoch, val_loss, marker="o", ms=3, label="validation loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_yscale("log")
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend()
    if has_acc:
        acc_ax = axes[1]
        acc_ax.plot(epoch, val_acc, marker="o", ms=3, color="tab:green",
                    label="validation accuracy")
        best = max(a for a in val_acc if not math.isnan(a))
        acc_ax.axhline(best, color="gray", ls="--", lw=0.8)
        acc_ax.annotate(f"best {best:.4f}", (epoch[0], best), textcoords="offset points",
                        xytext=(2, -11), fontsize=8, color="gray")
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy")
        acc_ax.grid(True, alpha=0.3)
        acc_ax.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_all(PROG, [(fig, out)])


if __name__ == "__main__":
    main()
