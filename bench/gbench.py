"""What the bench scripts share: reading Google Benchmark JSON, and running a benchmark or a
peer so that a failure ends in a message instead of a traceback. Standard library only.

The scripts import it from their own directory (python puts a script's directory first on
sys.path).
"""
import json
import os
import subprocess
import sys
from collections import defaultdict

# The number checks the figure scripts use too, from tools/figure_io.py (no matplotlib needed).
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from figure_io import is_number as finite_number, shown  # noqa: E402,F401 (re-exported)


class InputError(Exception):
    """JSON a script cannot use; the scripts exit 2 with this message."""


class RunError(Exception):
    """A benchmark or peer that could not run or failed; the scripts say so and stop."""


def load(path):
    """(context, runs, errored) of a Google Benchmark JSON file: the iteration entries by
    name in file order, and for each run that reported an error, its message (its entries are
    not in runs)."""
    # A device (/dev/zero) or a pipe would be read forever, or block.
    if os.path.exists(path) and not os.path.isfile(path):
        raise InputError(f"cannot read {path}: not a regular file (a directory, a device or a "
                         f"pipe)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}") from e
    except RecursionError:
        # json's decoder recurses once per level: "[" * 100000 exhausts the stack.
        raise InputError(f"cannot read {path}: its JSON is nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise InputError(f"{path} is not Google Benchmark JSON (no \"benchmarks\" list)")
    runs, errored = defaultdict(list), {}
    for i, b in enumerate(data["benchmarks"]):
        if not isinstance(b, dict) or not isinstance(b.get("name"), str):
            raise InputError(f"{path}: benchmark entry {i} has no name")
        if b.get("error_occurred"):
            errored[b["name"]] = str(b.get("error_message", "no message"))
        elif b.get("run_type", "iteration") == "iteration":
            runs[b["name"]].append(b)
    # perf_compare.py's merged files keep their rounds' errors beside the benchmarks.
    extra = data.get("errors", {})
    if isinstance(extra, dict):
        errored.update({str(k): str(v) for k, v in extra.items()})
    context = data.get("context", {})
    return (context if isinstance(context, dict) else {}), dict(runs), errored


def last_words(text, lines=3):
    """The last few non-blank lines of a run's output, on one line."""
    kept = [line for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) if kept else "(no output)"


def run(command, what):
    """Runs command and returns its completed process (stdout and stderr captured as text);
    raises RunError naming `what` when it cannot start or exits non-zero."""
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as e:
        raise RunError(f"cannot run {what}: {e}") from e
    if result.returncode != 0:
        hint = (" (PyTorch comes from Debian's python3-torch: apt-get install python3-torch)"
                if "No module named 'torch'" in result.stderr else "")
        raise RunError(f"{what} failed (exit {result.returncode}): "
                       f"{last_words(result.stderr)}{hint}")
    return result
