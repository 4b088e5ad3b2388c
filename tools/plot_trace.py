#!/usr/bin/python3
"""Draw a descent trace, learning-rate demo or learning-rate range test from its JSON.

usage: plot_trace.py INPUT.json OUT.png

INPUT.json names its "kind"; the CSV files it lists are read relative to its own folder:
  trace    optimizers minimising an analytic function: for 1-D the curve with each
           optimizer's iterates on it (a step too large jumps across the valley), for 2-D
           the contours with each path (start o, end square, a diverged run ends in a red x,
           the known minimizers are stars); beside it, the value per step of every run
  lr_demo  gradient descent on J(w) = (w - 3)^2 at a few rates: one panel per rate with
           its iterates on the parabola, and |w - 3| per step for all of them, the stability
           bound lr < 2/L in the title
  lr_find  a learning-rate range test: the loss against the rate (log axis), raw and
           smoothed, the suggested rate (steepest descent of the loss) and the rate of the
           lowest loss marked

Uses Debian's python3-matplotlib; run it with /usr/bin/python3.
"""
import csv
import json
import math
import os

from figure_io import (InputError, arguments, check_image_path, fail, is_number, not_regular,
                       require_matplotlib, save_all, shown)

PROG = "plot_trace.py"
require_matplotlib(PROG)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm  # noqa: E402

# Coordinates beyond this are pulled in before any arithmetic, so a run that diverged to
# 1e300 cannot overflow the clipping below.
HUGE = 1e150
FLOAT32_MAX = 3.4028234663852886e38


def number(cell):
    """A CSV cell as a float: "nan", "inf", "-inf" parse; an empty or odd cell is nan."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return math.nan


def finite(v):
    """A JSON number a float holds (figure_io.is_number): a 400-digit integer is not."""
    return is_number(v)


def read_csv(base, name, needed, counted=("step",), positive=()):
    """The columns of a CSV beside the JSON, as float arrays keyed by the header. The
    `counted` columns must hold whole numbers from 0 to 2^53 and the `positive` ones numbers
    in (0, FLOAT32_MAX] (descent writes float32 rates): matplotlib cannot place a tick at
    inf or 1e308."""
    path = os.path.join(base, name)
    if why := not_regular(path):
        raise InputError(why)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}")
    except csv.Error as e:
        raise InputError(f"cannot read {path}: {e}")
    if not rows:
        raise InputError(f"{path} holds no rows")
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise InputError(f"{path} lacks the column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}")
    columns = {c: np.array([number(r[c]) for r in rows]) for c in rows[0] if c is not None}
    for c in counted:
        bad = ~((columns[c] >= 0) & (columns[c] <= 2.0 ** 53) & (columns[c] % 1 == 0))
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise InputError(f"{path}: line {i + 2}: {c} {rows[i][c]!r} is not a whole number "
                             f"from 0 to 2^53")
    for c in positive:
        bad = ~((columns[c] > 0) & (columns[c] <= FLOAT32_MAX))
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise InputError(f"{path}: line {i + 2}: {c} {rows[i][c]!r} is not a number in "
                             f"(0, {FLOAT32_MAX:.4g}]")
    return columns


def clip_segment(x0, y0, x1, y1, box):
    """The part of the segment inside box (xmin, xmax, ymin, ymax), or None (Liang-Barsky)."""
    xmin, xmax, ymin, ymax = box
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - xmin), (dx, xmax - x0), (-dy, y0 - ymin), (dy, ymax - y0)):
        if p == 0:
            if q < 0:
                return None
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    if t0 > t1:
        return None
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def clip_path(xs, ys, box):
    """The polyline through the points, cut to box; nan separates the pieces. A step that
    leaves the box is drawn up to its edge in its true direction."""
    xs = np.clip(xs, -HUGE, HUGE)
    ys = np.clip(ys, -HUGE, HUGE)
    px, py = [], []
    for i in range(len(xs) - 1):
        seg = clip_segment(xs[i], ys[i], xs[i + 1], ys[i + 1], box)
        if seg is None:
            continue
        ax, ay, bx, by = seg
        if not px or px[-1] != ax or py[-1] != ay:
            if px:
                px.append(math.nan)
                py.append(math.nan)
            px.append(ax)
            py.append(ay)
        px.append(bx)
        py.append(by)
    return np.array(px), np.array(py)


def curve_range(cy):
    """The y range of a curve, its top cut where a few points would squash the rest (a curve
    that reaches 1e300 at one end)."""
    lo, hi = float(cy.min()), float(cy.max())
    p90 = float(np.percentile(cy, 90))
    if p90 > lo and hi - lo > 1e3 * (p90 - lo):
        hi = p90
    return widen(lo, hi, 0.06)


def widen(lo, hi, frac):
    pad = (hi - lo) * frac if hi > lo else max(abs(lo), 1.0) * frac
    return lo - pad, hi + pad


def inside(x, y, box):
    return (x >= box[0]) & (x <= box[1]) & (y >= box[2]) & (y <= box[3])


def is_diverged(run, values):
    reason = str(run.get("stop_reason", "")).lower()
    if "diverg" in reason or "exploded" in reason:
        return True
    if "final_value" in run and run["final_value"] is not None and not finite(run["final_value"]):
        return True
    return len(values) > 0 and not math.isfinite(values[-1])


def run_label(run):
    text = str(run.get("optimizer", "?"))
    if run.get("stop_reason"):
        text += f": {run['stop_reason']}"
    if run.get("steps") is not None:
        text += f" after {run['steps']} steps"
    return text


def load_runs(base, runs, dimension):
    """Each run with its CSV columns: step, value, and the point as an (n, dimension) array."""
    loaded = []
    for run in runs:
        if "csv" not in run:
            raise InputError(f"run {run.get('optimizer', len(loaded))} names no csv")
        cols = read_csv(base, run["csv"], ["step", "value"])
        # The x columns are looked up one by one, not listed first: a dimension of 1e9 stops
        # at the first one the file lacks instead of building 1e9 names.
        lacking = next((i for i in range(dimension) if f"x{i}" not in cols), None)
        if lacking is not None:
            raise InputError(f"{os.path.join(base, run['csv'])} lacks the column x{lacking} "
                             f"(dimension {shown(dimension)})")
        points = np.column_stack([cols[f"x{i}"] for i in range(dimension)])
        loaded.append((run, cols["step"], cols["value"], points))
    return loaded


def draw_path(ax, xs, ys, box, view, color, diverged, marker_size, line_width):
    """A path of iterates cut to the plot: thin line, small markers, start o, end square or,
    for a diverged run, a red x at its last finite point inside the view."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if len(xs) == 0:
        return
    px, py = clip_path(xs, ys, box)
    if len(px):
        ax.plot(px, py, "-", color=color, linewidth=line_width, alpha=0.85, zorder=3)
    shown = inside(xs, ys, view)
    # A marker per iterate, thinned on a long run so that they do not bury the others.
    every = max(1, math.ceil(len(xs) / 150))
    dots = shown.copy()
    dots[np.arange(len(xs)) % every != 0] = False
    ax.plot(xs[dots], ys[dots], "o", color=color, markersize=marker_size, zorder=4,
            markeredgewidth=0)
    if shown[0]:
        ax.plot(xs[0], ys[0], "o", markersize=marker_size + 5, markerfacecolor="none",
                markeredgecolor=color, markeredgewidth=1.6, zorder=5)
    if diverged:
        if shown.any():
            last = np.nonzero(shown)[0][-1]
            ax.plot(xs[last], ys[last], "x", color="red", markersize=10, markeredgewidth=2,
                    zorder=6)
    elif shown[-1]:
        ax.plot(xs[-1], ys[-1], "s", markersize=marker_size + 3, markerfacecolor="none",
                markeredgecolor=color, markeredgewidth=1.6, zorder=5)


def value_panel(ax, loaded, colors):
    """The value per step of every run: log y when every drawn value is positive, else symlog.
    Runs that blew up are cut at a few decades above the largest start value."""
    drawn = [(run, step[np.isfinite(value) & np.isfinite(step)],
              value[np.isfinite(value) & np.isfinite(step)]) for run, step, value, _ in loaded]
    everything = np.concatenate([v for _, _, v in drawn]) if drawn else np.array([])
    if len(everything) == 0:
        ax.text(0.5, 0.5, "no finite value to draw" if loaded else "no runs",
                transform=ax.transAxes, ha="center")
        return
    starts = [abs(v[0]) for _, _, v in drawn if len(v)]
    positive = bool((everything > 0).all())
    cap = 1e4 * max(max(starts), 1e-300 if positive else 1.0)
    top = min(everything.max(), cap)
    bottom = max(everything.min(), -cap)
    for (run, step, value), color, (_, _, raw, _) in zip(drawn, colors, loaded):
        if len(value) == 0:
            ax.plot([], [], color=color, label=run_label(run) + " (no finite value)")
            continue
        ax.plot(step, np.clip(value, -10 * cap, 10 * cap), marker="." if len(step) <= 200 else None,
                markersize=3, linewidth=1.2, color=color, label=run_label(run))
        if is_diverged(run, raw):
            kept = np.nonzero((value <= top) & (value >= bottom))[0]
            if len(kept):
                ax.plot(step[kept[-1]], value[kept[-1]], "x", color="red", markersize=9,
                        markeredgewidth=2)
    if positive:
        ax.set_yscale("log")
        ax.set_ylim(bottom / 2, top * 2)
    else:
        nonzero = np.abs(everything[everything != 0])
        linthresh = 1.0
        if len(nonzero):
            linthresh = max(nonzero.min(), min(abs(top), abs(bottom), nonzero.max()) * 1e-6,
                            1e-12)
            linthresh = 10.0 ** math.floor(math.log10(linthresh))
        ax.set_yscale("symlog", linthresh=linthresh)
        # Pad by a factor, not a span: on a symlog axis a span of 1e4 would add decades.
        ax.set_ylim(bottom * 1.5 if bottom < 0 else bottom / 1.5 if bottom > 0 else -linthresh,
                    top * 1.5 if top > 0 else top / 1.5 if top < 0 else linthresh)
    ax.set_xlabel("step")
    ax.set_ylabel("f(x)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def contour_levels(z, minimum):
    """Geometric levels above the grid minimum for a function bounded below by a known
    minimum >= 0; linear levels otherwise (a saddle, a negative minimum)."""
    zf = z[np.isfinite(z)]
    zmin, zmax = float(zf.min()), float(zf.max())
    if zmax <= zmin:
        return np.array([zmin - 1, zmin, zmin + 1]), False
    if finite(minimum) and minimum >= 0:
        # The lowest level: near the minimum, yet not below what the grid resolves (a grid
        # that is huge almost everywhere would otherwise start its levels at 1e130).
        above = zf - zmin
        positive = above[above > 0]
        eps = min(float(np.percentile(above, 95)) * 1e-4, float(np.percentile(positive, 2)))
        if not eps > 0:
            eps = (zmax - zmin) * 1e-6
        decades = math.log10((zmax - zmin) / eps)
        levels = zmin + np.geomspace(eps, zmax - zmin, int(min(80, max(30, 3 * decades))))
        return np.unique(np.concatenate([[zmin], levels])), True
    lo, hi = float(np.percentile(zf, 1)), float(np.percentile(zf, 99))
    if zmax - zmin > 100 * (hi - lo) and hi > lo:
        zmin, zmax = lo, hi
    return np.linspace(zmin, zmax, 25), False


def trace_left_1d(ax, doc, loaded, colors):
    cx = np.asarray(doc["curve"]["x"], dtype=float)
    cy = np.asarray([number(v) if v is not None else math.nan for v in doc["curve"]["value"]])
    ok = np.isfinite(cx) & np.isfinite(cy)
    cx, cy = cx[ok], cy[ok]
    ax.plot(cx, cy, color="black", linewidth=1.4, zorder=2, label="f(w)")
    xlim = (cx.min(), cx.max())
    ylim = curve_range(cy)
    view = (xlim[0], xlim[1], ylim[0], ylim[1])
    box = (*widen(*xlim, 0.05), *widen(*ylim, 0.05))
    for (run, _, value, points), color in zip(loaded, colors):
        draw_path(ax, points[:, 0], value, box, view, color, is_diverged(run, value), 4, 0.9)
    for m in doc.get("minimizers") or []:
        y = doc["minimum"] if finite(doc.get("minimum")) else np.interp(m[0], cx, cy)
        ax.plot(m[0], y, "*", color="gold", markeredgecolor="black", markersize=14, zorder=7)
    for m in doc.get("local_minimizers") or []:
        ax.plot(m[0], np.interp(m[0], cx, cy), "*", color="white", markeredgecolor="black",
                markersize=11, zorder=7)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("w")
    ax.set_ylabel("f(w)")
    ax.grid(True, alpha=0.3)
    ax.set_title("iterates on the curve (o start, square end, x diverged; stars: minima, "
                 "white: local)", fontsize=9)


def trace_left_2d(fig, ax, doc, loaded, colors):
    grid = doc["grid"]
    gx = np.asarray(grid["x"], dtype=float)
    gy = np.asarray(grid["y"], dtype=float)
    z = np.array([[number(v) if v is not None else math.nan for v in row]
                  for row in grid["value"]])
    if z.shape != (len(gy), len(gx)):
        raise InputError(f"grid value is {z.shape[0]}x{z.shape[1] if z.ndim == 2 else '?'}, "
                         f"expected {len(gy)} rows of {len(gx)}")
    if not np.isfinite(z).any():
        raise InputError("grid holds no finite value")
    levels, geometric = contour_levels(z, doc.get("minimum"))
    zm = np.ma.masked_invalid(np.clip(z, -HUGE, HUGE))
    cmap = plt.get_cmap("viridis")
    norm = BoundaryNorm(levels, cmap.N)
    filled = ax.contourf(gx, gy, zm, levels=levels, cmap=cmap, norm=norm, alpha=0.55,
                         extend="both")
    ax.contour(gx, gy, zm, levels=levels, colors="black", linewidths=0.35, alpha=0.5)
    bar = fig.colorbar(filled, ax=ax, fraction=0.046, pad=0.03)
    bar.set_ticks(levels[::max(1, len(levels) // 8)])
    bar.ax.set_yticklabels([f"{v:.3g}" for v in levels[::max(1, len(levels) // 8)]])
    bar.ax.tick_params(labelsize=7)
    bar.set_label("f (levels spaced geometrically above the minimum)" if geometric else "f",
                  fontsize=8)
    view = (gx.min(), gx.max(), gy.min(), gy.max())
    box = (*widen(view[0], view[1], 0.05), *widen(view[2], view[3], 0.05))
    for (run, _, value, points), color in zip(loaded, colors):
        draw_path(ax, points[:, 0], points[:, 1], box, view, color, is_diverged(run, value), 2.5,
                  1.3)
    for m in doc.get("minimizers") or []:
        ax.plot(m[0], m[1], "*", color="gold", markeredgecolor="black", markersize=14, zorder=7)
    for m in doc.get("local_minimizers") or []:
        ax.plot(m[0], m[1], "*", color="white", markeredgecolor="black", markersize=11, zorder=7)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("paths (o start, square end, x diverged, * minimizers)", fontsize=9)


def plot_trace(doc, base):
    dimension = doc["dimension"]
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise InputError(f"dimension {shown(dimension)} is not a whole number >= 1")
    loaded = load_runs(base, doc.get("runs") or [], dimension)
    colors = [plt.cm.tab10(i % 10) for i in range(len(loaded))]
    left = ((dimension == 1 and doc.get("curve")) or (dimension == 2 and doc.get("grid")))
    if left:
        fig, (lax, rax) = plt.subplots(1, 2, figsize=(13, 5.4),
                                       gridspec_kw={"width_ratios": [1.15, 1]})
        if dimension == 1:
            trace_left_1d(lax, doc, loaded, colors)
        else:
            trace_left_2d(fig, lax, doc, loaded, colors)
    else:
        fig, rax = plt.subplots(figsize=(7.5, 5))
    value_panel(rax, loaded, colors)
    minimum = doc.get("minimum")
    rax.set_title("value per step" + (f" (minimum {minimum:g})" if finite(minimum) else ""),
                  fontsize=9)
    fig.suptitle(f"{doc.get('function', 'trace')} ({dimension}-D)")
    fig.tight_layout()
    return fig


def plot_lr_demo(doc, base):
    loaded = load_runs(base, doc.get("runs") or [], 1)
    if not loaded:
        raise InputError("lr_demo holds no runs")
    m = float(doc["minimizers"][0][0])
    curvature, bound = doc.get("curvature"), doc.get("bound")
    colors = [plt.cm.tab10(i % 10) for i in range(len(loaded))]
    cx = np.asarray(doc["curve"]["x"], dtype=float)
    cy = np.asarray([number(v) if v is not None else math.nan for v in doc["curve"]["value"]])
    ok = np.isfinite(cx) & np.isfinite(cy)
    cx, cy = cx[ok], cy[ok]
    xlim = (cx.min(), cx.max())
    ylim = curve_range(cy)
    view = (xlim[0], xlim[1], ylim[0], ylim[1])
    box = (*widen(*xlim, 0.05), *widen(*ylim, 0.05))

    n = len(loaded)
    cols = 1 if n == 1 else 2 if n <= 4 else 3
    rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(4.3 * cols + 5.5, 3.6 * rows + 0.9))
    spec = fig.add_gridspec(rows, cols + 1, width_ratios=[1] * cols + [1.35])
    for k, ((run, step, value, points), color) in enumerate(zip(loaded, colors)):
        ax = fig.add_subplot(spec[k // cols, k % cols])
        ax.plot(cx, cy, color="black", linewidth=1.2, zorder=2)
        ax.axvline(m, color="gray", linestyle=":", linewidth=0.9)
        w = points[:, 0]
        dw = np.abs(w[np.isfinite(w)] - m)
        diverged = is_diverged(run, value) or (len(dw) > 1 and dw[-1] > dw[0])
        draw_path(ax, w, value, box, view, color, diverged, 4.5, 1.0)
        # Number the first few iterates: the order is what a zig-zag hides.
        okw = np.isfinite(w) & np.isfinite(value)
        shown = np.nonzero(okw & inside(w, value, view))[0]
        last_label = None
        for i in shown[:8]:
            here = ((w[i] - xlim[0]) / (xlim[1] - xlim[0]),
                    (value[i] - ylim[0]) / (ylim[1] - ylim[0]))
            if last_label is not None and math.hypot(here[0] - last_label[0],
                                                     here[1] - last_label[1]) < 0.04:
                continue
            last_label = here
            ax.annotate(f"{int(step[i]) if math.isfinite(step[i]) else i}", (w[i], value[i]),
                        xytext=(3, 4), textcoords="offset points", fontsize=7, color=color)
        left = okw & ~inside(w, value, view)
        if left.any() or diverged:
            first_out = int(np.nonzero(left)[0][0]) if left.any() else None
            text = "diverged" if diverged else "left the plot"
            if first_out is not None:
                text += f": off the plot from step {int(step[first_out])}"
                before = np.nonzero(okw[:first_out])[0]
                if len(before):
                    # An arrow head where the step that left the plot crosses its edge.
                    j = before[-1]
                    seg = clip_segment(w[j], value[j], min(max(w[first_out], -HUGE), HUGE),
                                       min(max(value[first_out], -HUGE), HUGE), view)
                    if seg is not None:
                        ax.annotate("", xy=(seg[2], seg[3]), xytext=(seg[0], seg[1]),
                                    arrowprops={"arrowstyle": "-|>", "color": "red",
                                                "linewidth": 1.5, "mutation_scale": 16},
                                    annotation_clip=False, zorder=6)
            ax.text(0.97, 0.03, text.replace(": ", ":\n"), transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=8, color="red")
        lr = run.get("lr")
        title = f"lr = {lr:g}" if finite(lr) else str(run.get("optimizer", "?"))
        if run.get("label"):
            title += f": {run['label']}"
        ax.set_title(title, fontsize=10)
        if finite(lr) and finite(curvature):
            factor = abs(1 - lr * curvature)
            ax.text(0.03, 0.03, f"lr L = {lr * curvature:g}\n|w - {m:g}| x {factor:g} per step",
                    transform=ax.transAxes, fontsize=7.5, va="bottom",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.grid(True, alpha=0.3)
        if k // cols == rows - 1:
            ax.set_xlabel("w")
        if k % cols == 0:
            ax.set_ylabel("J(w)")

    dax = fig.add_subplot(spec[:, cols])
    dist = [(np.abs(points[:, 0] - m), step) for _, step, _, points in loaded]
    positives = np.concatenate([d[np.isfinite(d) & (d > 0)] for d, _ in dist])
    starts = [d[0] for d, _ in dist if len(d) and math.isfinite(d[0]) and d[0] > 0]
    cap = 1e4 * max(starts) if starts else (positives.max() if len(positives) else 1.0)
    floor = positives.min() / 100 if len(positives) else 1e-16
    for (run, step, value, _), (d, _), color in zip(loaded, dist, colors):
        ok = np.isfinite(d) & np.isfinite(step)
        lr = run.get("lr")
        name = f"lr = {lr:g}" if finite(lr) else str(run.get("optimizer", "?"))
        if run.get("label"):
            name += f": {run['label']}"
        if run.get("stop_reason"):
            name += f" ({run['stop_reason']})"
        s, dd = step[ok], d[ok]
        exact = dd == 0
        dax.plot(s, np.clip(np.where(exact, floor, dd), floor, 10 * cap), marker=".",
                 markersize=4, linewidth=1.2, color=color, label=name)
        if exact.any():
            i = np.nonzero(exact)[0][0]
            dax.plot(s[i], floor, "v", color=color, markersize=8)
            dax.annotate(f"w = {m:g} exactly at step {int(s[i])}", (s[i], floor),
                         xytext=(6, 6), textcoords="offset points", fontsize=7, color=color)
        grew = len(dd) > 1 and dd[-1] > dd[0]
        if (is_diverged(run, value) or grew) and len(dd):
            kept = np.nonzero(dd <= cap)[0]
            if len(kept):
                dax.plot(s[kept[-1]], dd[kept[-1]], "x", color="red", markersize=9,
                         markeredgewidth=2)
    dax.set_yscale("log")
    top = min(max(positives.max() if len(positives) else 1.0, floor), cap)
    dax.set_ylim(floor / 3, top * 3)
    dax.set_xlabel("step")
    dax.set_ylabel(f"|w - {m:g}|  (distance to the minimizer)")
    dax.set_title("distance to the minimizer per step", fontsize=10)
    dax.grid(True, which="both", alpha=0.3)
    dax.legend(fontsize=7.5)

    name = doc.get("function", "parabola")
    title = f"{name}: J(w) = (w - {m:g})^2" if name == "parabola" else str(name)
    if finite(curvature) and finite(bound):
        title += (f", L = {curvature:g}: gradient descent converges for "
                  f"lr < 2/L = {bound:g}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lr_find(doc, base):
    cols = read_csv(base, doc["csv"], ["step", "lr", "loss", "smoothed_loss"], positive=("lr",))
    lr, loss, smooth = cols["lr"], cols["loss"], cols["smoothed_loss"]
    fig, ax = plt.subplots(figsize=(9, 5.2))
    ok_raw = np.isfinite(lr) & np.isfinite(loss) & (lr > 0)
    ok_s = np.isfinite(lr) & np.isfinite(smooth) & (lr > 0)
    if not ok_s.any() and not ok_raw.any():
        raise InputError(f"{doc['csv']} holds no finite loss")
    ax.plot(lr[ok_raw], loss[ok_raw], color="tab:blue", alpha=0.3, linewidth=0.9,
            label="loss per batch")
    ax.plot(lr[ok_s], smooth[ok_s], color="tab:blue", linewidth=2, label="smoothed loss")
    ax.set_xscale("log")
    shown = np.concatenate([loss[ok_raw], smooth[ok_s]])
    first = smooth[ok_s][0] if ok_s.any() else loss[ok_raw][0]
    low = float(min(smooth[ok_s].min() if ok_s.any() else shown.min(),
                    np.percentile(loss[ok_raw], 1) if ok_raw.any() else shown.min()))
    high = float(shown.max())
    # The explosion at the end would squash the curve: cap at three times the first loss.
    cap = 3.0 * first if first > 0 else first + 2.0 * max(abs(first), 1.0)
    high = min(high, cap)
    pad = 0.05 * (high - low) if high > low else 0.1 * max(abs(high), 1.0)
    ax.set_ylim(max(low - pad, 0) if low >= 0 else low - pad, high + pad)
    xlo = float(lr[np.isfinite(lr) & (lr > 0)].min())
    xhi = float(lr[np.isfinite(lr) & (lr > 0)].max())
    if finite(doc.get("start_lr")) and doc["start_lr"] > 0:
        xlo = min(xlo, doc["start_lr"])
    ax.set_xlim(xlo, xhi * 1.2)

    suggested, at_min = doc.get("suggested_lr"), doc.get("min_loss_lr")
    if finite(suggested) and suggested > 0:
        ax.axvline(suggested, color="tab:red", linewidth=1.6,
                   label=f"suggested lr = {suggested:g}: steepest descent of the loss")
        ax.annotate(f"suggested lr = {suggested:g}", (suggested, 0.97),
                    xycoords=("data", "axes fraction"), xytext=(-4, 0),
                    textcoords="offset points", rotation=90, ha="right", va="top", fontsize=8,
                    color="tab:red")
    if finite(at_min) and at_min > 0:
        ax.axvline(at_min, color="black", linestyle=":", linewidth=1.4,
                   label=f"lowest smoothed loss at lr = {at_min:g}")
    if str(doc.get("stop", "")) == "exploded" and ok_s.any():
        last = np.nonzero(ok_s)[0][-1]
        ax.annotate("loss exploded: test stopped", (lr[last], min(smooth[last], high)),
                    xytext=(-12, -18), textcoords="offset points", ha="right", fontsize=8,
                    color="gray", arrowprops={"arrowstyle": "->", "color": "gray"})
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    span = ""
    if finite(doc.get("start_lr")) and finite(doc.get("end_lr")):
        span = f", lr {doc['start_lr']:g} to {doc['end_lr']:g}"
    stop = doc.get("stop")
    ax.set_title(f"learning-rate range test on {doc.get('data', '?')}{span}"
                 + (f" (stopped: {stop})" if stop else ""), fontsize=10)
    fig.tight_layout()
    return fig


KINDS = {"trace": plot_trace, "lr_demo": plot_lr_demo, "lr_find": plot_lr_find}


def main():
    path, out = arguments(__doc__, 2, PROG)
    check_image_path(PROG, out)
    if why := not_regular(path):
        fail(PROG, why)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(PROG, f"cannot read {path}: {e}")
    except RecursionError:
        # json's decoder recurses once per level: "[" * 100000 exhausts the stack.
        fail(PROG, f"cannot read {path}: its JSON is nested too deeply")
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        fail(PROG, f"{path}: kind {kind!r} is none of {', '.join(KINDS)}")
    base = os.path.dirname(os.path.abspath(path))
    try:
        fig = KINDS[doc["kind"]](doc, base)
    except InputError as e:
        fail(PROG, f"{path}: {e}")
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else f"malformed input ({e})"
        fail(PROG, f"{path}: {what}")
    save_all(PROG, [(fig, out)])


if __name__ == "__main__":
    main()
