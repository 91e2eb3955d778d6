"""Where the ``colorgan`` command's log goes, tracebacks included, while users read one line.

An error a user can act on (a bad file, a wrong option) is one line on stderr; an
error they cannot (a fault of this package) is one line too, saying so. Either
way its traceback is logged: shown with ``--verbose``, written with
``--log-file PATH``, so a bug report can carry it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("napari_colorgan")

# what a user's file, option or machine causes; anything else is a fault of ours
USER_ERRORS = (ValueError, OSError, MemoryError, RuntimeError, ImportError)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` and ``--log-file`` on one (sub)command."""
    group = parser.add_argument_group("diagnostics")
    group.add_argument(
        "--verbose", action="store_true", help="log every step and each error's traceback"
    )
    group.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="also write the log, tracebacks included, to this file (default: none)",
    )


@contextmanager
def logging_to(verbose: bool = False, log_file: Path | None = None) -> Iterator[None]:
    """Send the package's log to stderr (``verbose``) and/or a file for the block."""
    handlers: list[logging.Handler] = []
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    quiet = not handlers
    if quiet:  # else logging's last resort prints error records, tracebacks and all
        handlers.append(logging.NullHandler())
    level = log.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        log.addHandler(handler)
    if not quiet:
        log.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()
        log.setLevel(level)


def log_error(err: BaseException) -> str:
    """Log ``err`` with its traceback; return the one line a user sees (without prefix).

    A user error is logged at debug level, a fault of ours as an error.
    """
    if isinstance(err, USER_ERRORS):
        log.debug("the error's traceback", exc_info=err)
        return str(err) or type(err).__name__
    log.error("internal error", exc_info=err)
    return (
        f"internal error {type(err).__name__}: {err} (a fault of napari-colorgan, not of "
        "your input; rerun with --verbose or --log-file FILE for its traceback and report it)"
    )
