"""What a finished file output was made from, kept beside it for a batch rerun to check.

A zarr store proves its input with the fingerprints inside it (:mod:`.ledger`); a
PNG, TIFF or MP4 written whole holds no such thing. A batch therefore writes a
hidden ``.<name>.colorgan.json`` beside each output it finishes: a digest of the
input file and one of the settings that change a pixel (model weights included).
A rerun skips the output only when both are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_BLOCK = 1 << 20


def record_path(output: str | os.PathLike) -> Path:
    """The hidden record beside ``output``."""
    output = Path(output)
    return output.with_name(f".{output.name}.colorgan.json")


def input_digest(path: str | os.PathLike, known: dict | None = None) -> dict:
    """``{"stat": ..., "content": ...}`` of an input file, or a store's listing.

    A file's content digest is BLAKE2b of its bytes; when ``known`` (an earlier
    digest of the same path) has the same size and modification time, its
    content digest is reused without reading the file again.
    """
    path = Path(path)
    if path.is_dir():  # a zarr store: its files' names, sizes and times
        digest = hashlib.blake2b(digest_size=16)
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = item.stat()
            digest.update(f"{item.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return {"stat": None, "content": digest.hexdigest()}
    stat = os.stat(path)
    now = [stat.st_size, stat.st_mtime_ns]
    if known and known.get("stat") == now and isinstance(known.get("content"), str):
        return {"stat": now, "content": known["content"]}
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
    return {"stat": now, "content": digest.hexdigest()}


def read_record(output: str | os.PathLike) -> dict | None:
    """The record of ``output``; None when there is none or it is not one of ours."""
    try:
        record = json.loads(record_path(output).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(output: str | os.PathLike, record: dict) -> None:
    """Keep ``record`` beside ``output``, atomically."""
    from .atomic import atomic_write

    with atomic_write(record_path(output)) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True))


def same_input(output: str | os.PathLike, src: str | os.PathLike, settings: str) -> bool:
    """True when ``output``'s record says it was made from ``src`` as it is, with ``settings``."""
    record = read_record(output)
    if record is None or record.get("settings") != settings:
        return False
    known = record.get("input") if isinstance(record.get("input"), dict) else None
    return input_digest(src, known)["content"] == (known or {}).get("content")
