"""The one way napari-colorgan writes a file: beside it, then renamed into place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    """The hidden name ``.<name>.partial`` beside ``path`` that a write goes to first."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path beside ``path``; move it over ``path`` when the block ends.

    The temporary file is in the same folder, so :func:`os.replace` is atomic: a
    reader sees the old file or the whole new one, never a truncated one. When the
    block raises, the temporary file is removed and ``path`` is left as it was (an
    OSError is raised again naming ``path``, e.g. a full disk). The
    new file gets the permissions a plain ``open`` would give it (some writers
    create owner-only files).

    Examples
    --------
    >>> with atomic_write("out.tif") as tmp:  # doctest: +SKIP
    ...     tifffile.imwrite(tmp, data)
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a lost mount: one line that names the file
        if err.errno is None:
            raise
        raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
