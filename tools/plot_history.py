#!/usr/bin/python3
"""Plot a descent history CSV: loss per epoch (train and validation) and validation accuracy.

usage: plot_history.py HISTORY.csv OUT.png [--title TITLE]

Uses Debian's python3-matplotlib; run it with /usr/bin/python3.
"""
import argparse
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def number(cell):
    return float(cell) if cell not in ("", None) else math.nan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history")
    parser.add_argument("out")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()

    try:
        with open(args.history, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"plot_history.py: cannot read {args.history}: {e.strerror}")
    needed = {"epoch", "train_loss", "val_loss", "val_accuracy"}
    if not rows or not needed.issubset(rows[0].keys()):
        sys.exit(f"plot_history.py: {args.history} is not a descent history CSV")

    epoch = [int(r["epoch"]) for r in rows]
    train_loss = [number(r["train_loss"]) for r in rows]
    val_loss = [number(r["val_loss"]) for r in rows]
    val_acc = [number(r["val_accuracy"]) for r in rows]
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
        acc_ax.plot(epoch, val_acc, marker="o", ms=3, color="tab:green", label="validation accuracy")
        best = max(a for a in val_acc if not math.isnan(a))
        acc_ax.axhline(best, color="gray", ls="--", lw=0.8)
        acc_ax.annotate(f"best {best:.4f}", (epoch[0], best), textcoords="offset points",
                        xytext=(2, -11), fontsize=8, color="gray")
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy")
        acc_ax.grid(True, alpha=0.3)
        acc_ax.legend(loc="lower right")
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    try:
        fig.savefig(args.out, dpi=110)
    except OSError as e:
        sys.exit(f"plot_history.py: cannot write {args.out}: {e.strerror}")


if __name__ == "__main__":
    main()
