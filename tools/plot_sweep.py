#!/usr/bin/python3
"""Draw the figures of a descent sweep from its results.json.

usage: plot_sweep.py RESULTS.json OUT_DIR

Writes into OUT_DIR:
  loss_curves.png  the monitored loss per epoch for every learning rate, one panel per
                   optimizer and batch size: a rate too small crawls, a good one falls fast, one
                   too large oscillates or diverges (diverged runs end in an x)
  throughput.png   training samples/s against batch size, a line per thread count (median over
                   the optimizers and rates, the band from the slowest to the fastest run)
  pareto.png       time to the target against samples/s for every configuration that reached
                   it, the Pareto front (no other run both faster to the target and of higher
                   throughput) joined and labelled; runs that missed it listed beside

descent sweep runs this itself. Input it cannot draw exits 2 with the reason, before any
figure is written. Uses Debian's python3-matplotlib; run it with /usr/bin/python3.
"""
import json
import math
import os
from collections import defaultdict

from figure_io import (InputError, arguments, check_directory, fail, is_number, not_regular,
                       require_matplotlib, save_all, shown)

PROG = "plot_sweep.py"
require_matplotlib(PROG)
import matplotlib.pyplot as plt  # noqa: E402

# loss_curves.png has a panel per optimizer and batch size; its sides stop growing here (200
# batch sizes at full size would pass matplotlib's 2^16 pixels), the panels getting smaller.
MAX_INCHES = 60


def monitored(run_history):
    """The loss the stop criteria watch: validation when there is one, else training."""
    epochs, losses = [], []
    for h in run_history:
        loss = h.get("val_loss") if h.get("val_loss") is not None else h.get("train_loss")
        epochs.append(h["epoch"])
        losses.append(loss if loss is not None else math.nan)
    return epochs, losses


def label(run):
    return f"{run['optimizer']} lr={run['lr']:g} b={run['batch']} t={run['threads']}"


def loss_curves(results, runs):
    optimizers = list(dict.fromkeys(r["optimizer"] for r in runs))
    batches = list(dict.fromkeys(r["batch"] for r in runs))
    # The threads change no result (descent's guarantee): one curve per rate, from the first
    # thread count.
    first_threads = runs[0]["threads"]
    fig, axes = plt.subplots(len(optimizers), len(batches), squeeze=False, sharey="row",
                             figsize=(min(3.6 * len(batches) + 1, MAX_INCHES),
                                      min(2.9 * len(optimizers) + 0.8, MAX_INCHES)))
    rates = sorted({r["lr"] for r in runs})
    colors = {lr: plt.cm.viridis(i / max(1, len(rates) - 1)) for i, lr in enumerate(rates)}
    for i, opt in enumerate(optimizers):
        for j, batch in enumerate(batches):
            ax = axes[i][j]
            for r in runs:
                if r["optimizer"] != opt or r["batch"] != batch or r["threads"] != first_threads:
                    continue
                epochs, losses = monitored(r["history"])
                finite = [(e, v) for e, v in zip(epochs, losses) if math.isfinite(v)]
                name = f"lr={r['lr']:g}"
                if r["diverged"]:
                    name += " (diverged)"
                elif r["reached"]:
                    name += f" (target, epoch {r['epochs_to_target']:g})"
                if finite:
                    ax.plot([e for e, _ in finite], [v for _, v in finite], marker=".",
                            markersize=3, color=colors[r["lr"]], label=name)
                    if r["diverged"]:
                        ax.plot(finite[-1][0], finite[-1][1], "x", color="red", markersize=9)
                else:
                    ax.plot([], [], color=colors[r["lr"]], label=name)
            ax.set_yscale("log")
            ax.set_title(f"{opt}, batch {batch}", fontsize=9)
            ax.grid(True, alpha=0.3)
            if i == len(optimizers) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel("val loss" if runs[0]["history"] and
                              runs[0]["history"][0].get("val_loss") is not None else "train loss")
            ax.legend(fontsize=7)
    target = results["target"]
    fig.suptitle(f"descent sweep: {results['model']} on {results['data']}, loss per epoch by "
                 f"learning rate (target {'loss <= ' if 'loss' in target else 'accuracy >= '}"
                 f"{target.get('loss', target.get('accuracy'))})", fontsize=10)
    fig.tight_layout()
    return fig


def throughput(results, runs):
    by_threads = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r["samples_per_second"]:
            by_threads[r["threads"]][r["batch_size"]].append(r["samples_per_second"])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for threads in sorted(by_threads):
        points = sorted(by_threads[threads].items())
        xs = [b for b, _ in points]
        med = [sorted(v)[len(v) // 2] for _, v in points]
        ax.plot(xs, med, marker="o", label=f"{threads} thread{'s' if threads > 1 else ''}")
        ax.fill_between(xs, [min(v) for _, v in points], [max(v) for _, v in points], alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (rows; the largest is the full batch)")
    ax.set_ylabel("training samples / s")
    ax.set_title(f"throughput: {results['model']} on {results['data']} ({results['isa']})",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def pareto(results, runs):
    reached = [r for r in runs if r["reached"] and r["samples_per_second"]]
    missed = [r for r in runs if not r["reached"]]
    front = []
    for r in reached:
        dominated = any(o is not r and o["seconds_to_target"] <= r["seconds_to_target"] and
                        o["samples_per_second"] >= r["samples_per_second"] and
                        (o["seconds_to_target"] < r["seconds_to_target"] or
                         o["samples_per_second"] > r["samples_per_second"]) for o in reached)
        if not dominated:
            front.append(r)
    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    optimizers = list(dict.fromkeys(r["optimizer"] for r in runs))
    markers = "osD^v<>px*"
    for k, opt in enumerate(optimizers):
        pts = [r for r in reached if r["optimizer"] == opt]
        ax.scatter([r["samples_per_second"] for r in pts], [r["seconds_to_target"] for r in pts],
                   marker=markers[k % len(markers)], alpha=0.6, label=opt)
    front.sort(key=lambda r: r["samples_per_second"])
    if front:
        ax.plot([r["samples_per_second"] for r in front], [r["seconds_to_target"] for r in front],
                "-", color="black", linewidth=1.2, label="Pareto front")
        for r in front:
            ax.annotate(label(r), (r["samples_per_second"], r["seconds_to_target"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    if missed:
        lines = [f"{label(r)}: {r['stop_reason']}" for r in missed[:18]]
        if len(missed) > 18:
            lines.append(f"... and {len(missed) - 18} more")
        ax.text(1.02, 1.0, "target not reached:\n" + "\n".join(lines), transform=ax.transAxes,
                fontsize=6.5, va="top")
    if reached:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no run reached the target", transform=ax.transAxes, ha="center")
    ax.set_xlabel("training samples / s (throughput)")
    ax.set_ylabel("seconds to target (convergence)")
    ax.set_title("convergence against throughput: lower left is better", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.subplots_adjust(left=0.08, right=0.72 if missed else 0.97, bottom=0.1, top=0.93)
    return fig


def check(results):
    """Exit-2 reasons for a results.json this script cannot draw, found before any figure."""
    if not isinstance(results, dict):
        raise InputError("not a descent sweep's results (expected a JSON object)")
    for key in ("model", "data", "isa"):
        if not isinstance(results.get(key), str):
            raise InputError(f"{key} is missing or not a string")
    target = results.get("target")
    if not isinstance(target, dict) or not any(
            is_number(target.get(k)) for k in ("loss", "accuracy")):
        raise InputError("target is missing or holds neither loss nor accuracy")
    runs = results.get("runs")
    if not isinstance(runs, list) or not runs:
        raise InputError("holds no runs")
    numbers = ("lr", "batch_size", "threads")
    optional = ("samples_per_second", "seconds_to_target", "epochs_to_target")
    for i, r in enumerate(runs):
        where = f"run {i + 1}"
        if not isinstance(r, dict):
            raise InputError(f"{where} is not an object")
        for k in numbers:
            if not is_number(r.get(k)) or r[k] <= 0:
                raise InputError(f"{where}: {k} {shown(r.get(k))} is not a positive number")
        for k in optional:
            if r.get(k) is not None and not (is_number(r[k]) and r[k] >= 0):
                raise InputError(f"{where}: {k} {shown(r[k])} is not a number >= 0")
        for k in ("optimizer", "stop_reason"):
            if not isinstance(r.get(k), str):
                raise InputError(f"{where}: {k} is missing or not a string")
        for k in ("reached", "diverged"):
            if not isinstance(r.get(k), bool):
                raise InputError(f"{where}: {k} is missing or not true/false")
        if not isinstance(r.get("batch"), str) and not is_number(r.get("batch")):
            raise InputError(f"{where}: batch {shown(r.get('batch'))} is not a batch size "
                             f"(\"16\", \"full\")")
        if r["reached"] and not (is_number(r.get("seconds_to_target")) and
                                 is_number(r.get("epochs_to_target"))):
            raise InputError(f"{where} reached the target but gives no time to it")
        history = r.get("history")
        if not isinstance(history, list):
            raise InputError(f"{where}: history is missing or not a list")
        for j, h in enumerate(history):
            if not isinstance(h, dict) or not is_number(h.get("epoch")):
                raise InputError(f"{where}: history entry {j + 1} has no epoch")
            # matplotlib cannot tick an axis that reaches 1e308.
            if not 0 <= h["epoch"] <= 2 ** 53 or h["epoch"] != int(h["epoch"]):
                raise InputError(f"{where}: history entry {j + 1}: epoch {shown(h['epoch'])} "
                                 f"is not a whole number from 0 to 2^53")
            for k in ("train_loss", "val_loss"):
                if h.get(k) is not None and not is_number(h[k]):
                    raise InputError(f"{where}: history entry {j + 1}: {k} {shown(h[k])} is "
                                     f"not a number")
    return runs


def main():
    results_path, out = arguments(__doc__, 2, PROG)
    check_directory(PROG, out)
    if why := not_regular(results_path):
        fail(PROG, why)
    try:
        with open(results_path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(PROG, f"cannot read {results_path}: {e}")
    except RecursionError:
        # json's decoder recurses once per level: "[" * 100000 exhausts the stack.
        fail(PROG, f"cannot read {results_path}: its JSON is nested too deeply")
    try:
        runs = check(results)
    except InputError as e:
        fail(PROG, f"{results_path}: {e}")
    figures = [(loss_curves(results, runs), os.path.join(out, "loss_curves.png")),
               (throughput(results, runs), os.path.join(out, "throughput.png")),
               (pareto(results, runs), os.path.join(out, "pareto.png"))]
    save_all(PROG, figures)


if __name__ == "__main__":
    main()
