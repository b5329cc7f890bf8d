"""Writing files and folders so that a failure never leaves half of one behind: everything is
written under a temporary sibling name (``.<name>.partial-<pid>``) and renamed into place at the
end, so the old file or folder stays untouched until the new one is complete. The one helper
for every writer, the store, the bands outputs and the training checkpoints."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["atomic_folder", "atomic_path", "atomic_write", "write_files"]


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write a file to (with any library: h5py, torch.save);
    renamed onto ``path`` when the block ends normally, removed when it raises.

    >>> with atomic_path("best.pt") as tmp:   # doctest: +SKIP
    ...     torch.save(checkpoint, tmp)
    """
    path = Path(path)
    tmp = _partial(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)


def write_files(directory: str | os.PathLike, contents: Mapping[str, str | bytes]) -> list[Path]:
    """Write every ``contents`` entry (path relative to ``directory`` -> text or bytes) with
    :func:`atomic_write`, making the folders they need; returns the paths, in order."""
    directory = Path(directory)
    paths = []
    for relative, data in contents.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        paths.append(path)
    return paths


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A new, empty temporary sibling folder of ``path`` to fill with files; when the block
    ends normally it takes the place of ``path`` (an existing folder there is replaced whole,
    and removed only once the new one is in place), when it raises it is removed."""
    path = Path(path)
    tmp = _partial(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
