"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or an error while writing never leaves a truncated file under the final name.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputWriteError(ValueError):
    """An output file could not be written (folder not writable, disk full, ...); names the path and the reason."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed to ``path``.

    Failing to create the folder or the file, or an ``OSError`` while writing it (a full disk), raises
    :class:`OutputWriteError`; the temporary file is removed and an existing ``path`` is left as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc} (is the folder writable?)") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            # mkstemp creates the file 0600; give the output the usual permissions (0666 minus the umask)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
            os.replace(tmp_path, path)
        except OSError as exc:
            raise OutputWriteError(f"writing {path} failed: {exc.strerror or exc}; nothing was written there") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_writable(folder: str | os.PathLike) -> None:
    """Fail early, before any compute, when ``folder`` cannot hold the run's outputs."""
    with atomic_path(Path(folder) / ".write_check"):
        pass
    (Path(folder) / ".write_check").unlink(missing_ok=True)


def write_csv_rows(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write dict rows (the keys of the first row as header) atomically; NaN floats become empty cells."""
    import csv
    import math

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for row in rows:
                w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return path
