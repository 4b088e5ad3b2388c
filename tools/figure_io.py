"""What the figure scripts share: their command line, errors and writing figures so that a
failure leaves no file behind. The scripts import it from their own directory (python puts a
script's directory first on sys.path; it is installed beside them).

Bad input exits 2 with one line naming what was wrong, as the descent CLI does; --help exits 0.
"""
import math
import os
import sys
import tempfile

# matplotlib's formats that need no extra backend.
FORMATS = (".png", ".svg", ".pdf")
# The most characters of one text a figure draws (a title, a label).
TEXT_LIMIT = 300


class InputError(Exception):
    """Input a script cannot draw; main() turns it into exit 2 with the message."""


def is_number(v):
    """Whether a JSON value is a number a float holds: not a bool, NaN or infinite, nor an
    integer too large for a float (on which math.isfinite raises OverflowError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def shown(v, limit=40):
    """repr(v) for a message, cut short: a 400-digit number must not fill the screen."""
    text = repr(v)
    return text if len(text) <= limit else f"{text[:limit - 12]}... ({len(text)} characters)"


def require_matplotlib(prog):
    """matplotlib with the Agg backend, or exit 3 naming the package to install (the CLI
    passes the message on)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        # Titles, labels and legends carry user text (a data path, an optimizer name): a "$"
        # in it must be drawn, not parsed as mathtext.
        matplotlib.rcParams["text.parse_math"] = False
        import matplotlib.pyplot  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        print(f"{prog}: {sys.executable} cannot import {e.name or 'matplotlib'}; "
              "install python3-matplotlib (apt-get install python3-matplotlib) or set "
              "DESCENT_PYTHON to a python3 that has it", file=sys.stderr)
        sys.exit(3)
    return matplotlib


def fail(prog, message):
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(2)


def arguments(doc, count, prog):
    """The positional arguments: exactly `count`, or the usage (stdout and exit 0 for -h or
    --help; stderr and exit 2 otherwise)."""
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(doc.strip())
        sys.exit(0)
    if len(args) != count or any(a.startswith("-") and a != "-" for a in args):
        print(doc.strip(), file=sys.stderr)
        fail(prog, f"expected {count} arguments, got {len(args)}: {' '.join(args)}")
    return args


def not_regular(path):
    """Why `path` cannot be read as an input file (None when it can): a device such as
    /dev/zero, or a pipe, would be read forever or block; a directory holds no data."""
    if not os.path.exists(path):
        return None  # open() says so, with the reason
    if not os.path.isfile(path):
        return f"{path} is not a regular file (a directory, a device or a pipe)"
    return None


def output_path(prog, path):
    """The file to write for `path`: the file a symbolic link names (the link stays), or exit 2
    where what is there is no regular file (a device, a pipe): a figure renamed over it would
    replace /dev/null itself."""
    real = os.path.realpath(path) if os.path.islink(path) else path
    if os.path.exists(real) and not os.path.isfile(real) and not os.path.isdir(real):
        fail(prog, f"cannot write {path}: it is not a regular file (a device or a pipe)")
    return real


def check_image_path(prog, path):
    """Exit 2 unless `path` names an image file (.png, .svg or .pdf) in an existing folder."""
    output_path(prog, path)
    if os.path.isdir(path):
        fail(prog, f"{path} is a directory; name the image to write (e.g. {path}/figure.png)")
    if os.path.splitext(path)[1].lower() not in FORMATS:
        fail(prog, f"{path}: name a {', '.join(FORMATS)} file")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        fail(prog, f"cannot write {path}: the directory {parent} does not exist")


def check_directory(prog, path):
    if not os.path.isdir(path):
        fail(prog, f"{path} is not a directory" if os.path.exists(path)
             else f"the directory {path} does not exist")


def file_mode():
    """0666 less the umask: what open() would have given the file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_all(prog, figures, dpi=110):
    """Saves each (figure, path) to a temporary file beside its path, then renames them all:
    either every figure is written or none is (and the files already there stay as they
    were)."""
    import matplotlib.pyplot as plt
    import matplotlib.text
    # A destination that is a directory would fail its rename after the others had replaced
    # their files: refused before anything is written. A link is written through.
    figures = [(fig, output_path(prog, path)) for fig, path in figures]
    for _, path in figures:
        if os.path.isdir(path):
            fail(prog, f"cannot write {path}: it is a directory")
    # User text (a title, a data path) of a few thousand characters overflows the renderer:
    # cut short, as a title has no room for it anyway.
    for fig, _ in figures:
        for text in fig.findobj(matplotlib.text.Text):
            words = text.get_text()
            if len(words) > TEXT_LIMIT:
                text.set_text(words[:TEXT_LIMIT - 30] + f"... ({len(words)} characters)")
    done, current = [], None
    # (path, a hard link to the file it replaced; None where none was there, "" where the
    # file system has no hard links and the new figure must stay)
    replaced = []
    try:
        for fig, path in figures:
            current = path
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".figure.",
                                       suffix=os.path.splitext(path)[1])
            os.close(fd)
            done.append(tmp)
            fig.savefig(tmp, dpi=dpi)
            os.chmod(tmp, file_mode())
            plt.close(fig)
        # A rename can still fail (a file of another user in a sticky directory): each old
        # file is kept as a hard link until every rename is done, to be put back.
        for tmp, (_, path) in zip(done, figures):
            current = path
            old = None
            if os.path.lexists(path):
                old = tmp + ".old"
                try:
                    os.link(path, old, follow_symlinks=False)
                except OSError:
                    old = ""
            replaced.append((path, old))
            os.replace(tmp, path)
    except BaseException as e:
        for path, old in reversed(replaced):
            try:
                if path == current:  # its rename failed: the old file is still in place
                    if old:
                        os.unlink(old)
                elif old is None:
                    os.unlink(path)
                elif old:
                    os.replace(old, path)
            except OSError:
                pass
        for tmp in done:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(e, OSError):
            fail(prog, f"cannot write {current}: {e.strerror}")
        raise
    for _, old in replaced:
        if old:
            os.unlink(old)
