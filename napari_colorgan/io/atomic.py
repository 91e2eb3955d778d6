"""The one way napari-colorgan writes a file: beside it, then renamed into place."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    """The hidden name ``.<name>.partial`` beside ``path``: the root of a sink's staging store.

    Only a writer holding the output's lock (:mod:`.lock`) uses it; a file written
    through :func:`atomic_write` gets a name of its own.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def _temporaries(path: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{16}}\.partial")


def remove_partials(path: str | os.PathLike) -> None:
    """Delete the temporary files that killed writers of ``path`` left beside it.

    Call it only while holding the output's lock: a live writer's file looks the same.
    """
    path = Path(path)
    pattern = _temporaries(path)
    partial_path(path).unlink(missing_ok=True)  # the fixed name of earlier versions
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}.*.partial"):
            if pattern.fullmatch(leftover.name) and leftover.is_file():
                leftover.unlink(missing_ok=True)


def _create_temporary(path: Path) -> tuple[Path, int]:
    """An empty file of a name no other writer has, beside ``path``, and its mode.

    It is created with mode 0o666, so the kernel applies the process's umask: the
    mode a plain ``open`` gives, read back without touching the umask (which is
    process-wide, so setting it even briefly races with every other thread).
    """
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # 64 random bits taken: draw again
            continue
        try:
            return tmp, os.fstat(fd).st_mode & 0o777
        finally:
            os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path beside ``path``; move it over ``path`` when the block ends.

    The temporary file is in the same folder, so :func:`os.replace` is atomic: a
    reader sees the old file or the whole new one, never a truncated one. Its
    name is unique (``.<name>.<random>.partial``), so two writers of one path
    never write into each other's file: the last to finish wins, whole. When the
    block raises, the temporary file is removed and ``path`` is left as it was (an
    OSError is raised again naming ``path``, e.g. a full disk). The new file gets
    the permissions a plain ``open`` would give it (some writers create owner-only
    files); the process's umask is never changed.

    Examples
    --------
    >>> with atomic_write("out.tif") as tmp:  # doctest: +SKIP
    ...     tifffile.imwrite(tmp, data)
    """
    path = Path(path)
    tmp = None
    try:
        tmp, mode = _create_temporary(path)
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a lost mount: one line that names the file
        if err.errno is None:
            raise
        raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
