"""Sweep files: a sweep described in TOML (``runner sweep --config sweep.toml``).

    study = "batch-size"            # a name, path/to/file.py:Class or package.module:Class
    seeds = 3
    out = "out/bs"                  # relative to the current directory
    workers = 2
    executor = "local"              # or "dask"; scheduler = "tcp://host:8786"
    shard = "0/4"
    target = "cpu"
    sample = 100                    # random search: 100 draws from the grid (--sample)
    sample_seed = 0

    [grid]
    batch_size = [1, 8, 64, "full"] # a list, as --grid batch_size=1,8,64,full
    lr = "1e-3:1e-1:log3"           # a string, exactly as on the command line
    epochs = 100                    # one value

Every key is optional but ``study`` (which may also be given on the command line). Options on
the command line override the file's, a ``--grid`` key the file's entry for that key.
"""
import errno
import re
import tomllib
from pathlib import Path

OPTIONS = {"study": str, "seeds": int, "out": str, "workers": int, "executor": str, "scheduler": str,
           "shard": str, "target": str, "sample": int, "sample_seed": int, "grid": dict}


class SweepFileError(ValueError):
    """A sweep file that cannot be used; the message names the file, line and key."""


def _line(text: str, key: str, section: str | None = None) -> int | None:
    """The line number of ``key = ...`` (inside ``[section]`` when given), or None."""
    inside = section is None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            inside = header[1].strip() == section
        elif inside and re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return None


def _token(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value != "" else '""'  # runner.grid.EMPTY


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at ``path``; OSError (with a strerror) for anything else,
    a FIFO or device included, which is never opened (it could block forever)."""
    if path.exists() and not path.is_file():
        raise OSError(errno.EISDIR if path.is_dir() else errno.EINVAL,
                      "Is a directory" if path.is_dir() else "not a regular file (a FIFO, device or socket)")
    return path.read_bytes()


def read(path: Path) -> tuple[dict, dict[str, int | None]]:
    """The sweep file's options (OPTIONS; ``grid`` as a list of ``key=values`` strings) and
    where each grid key is (line numbers, for error messages); SweepFileError if it is bad."""
    try:
        raw = read_regular(path)
        text = raw.decode("utf-8")
    except OSError as err:
        raise SweepFileError(f"--config {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SweepFileError(f"{path} line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); TOML files are "
                             "UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SweepFileError(f"{path}: {err}") from None
    for key, value in data.items():
        where = f"{path} line {_line(text, key)}: {key}"
        if key not in OPTIONS:
            raise SweepFileError(f"{where}: unknown key (known: {', '.join(OPTIONS)})")
        kind = OPTIONS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SweepFileError(f"{where}: expected a {'table' if kind is dict else kind.__name__}, "
                                 f"got {value!r}")
    grid, lines = [], {}
    for key, value in data.get("grid", {}).items():
        lines[key] = _line(text, key, "grid")
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, list | dict) for v in values):
            raise SweepFileError(f"{path} line {lines[key]}: grid.{key}: expected a value or a list of values")
        grid.append(f"{key}={','.join(map(_token, values))}")
    return {**data, "grid": grid}, lines


def grid_key(option: str) -> str:
    """The key of a ``key=values`` grid option."""
    return option.partition("=")[0].strip()
