"""Getting pinned upstream files: checksum checks, atomic copies and streamed downloads.

Used by every upstream source (boundaries, the code list): a file lands in the cache through a
temporary file renamed into place, so an interrupted download never leaves a half file that
looks complete, and a pinned checksum is checked before the rename.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from geo.errors import ConfigurationError, SourceUnavailable

_CHUNK_BYTES = 64 * 1024

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is ``None`` when unknown."""


def sha256_of(path: Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(path: Path | str, digest: str, expected: str | None) -> None:
    """Raise :class:`~geo.errors.SourceUnavailable` when a pinned checksum does not match."""
    if expected is not None and digest != expected:
        raise SourceUnavailable(
            f"{path} does not match the pinned upstream file: sha256 expected {expected}, "
            f"got {digest}"
        )


def temporary_beside(target: Path) -> Path:
    """An empty temporary file in ``target``'s folder (made if need be), to rename into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise ConfigurationError(f"cannot write to boundary cache {target.parent}: {exc}") from exc
    os.close(fd)
    return Path(name)


def copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` so that ``target`` is never seen half written."""
    temporary = temporary_beside(target)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def download(
    url: str,
    target: Path,
    expected: str | None,
    timeout_s: float,
    progress: ProgressCallback | None,
    hint: str,
) -> str:
    """Download ``url`` to ``target`` atomically; returns the sha256, checked if ``expected``.

    ``hint`` ends the error message when the network fails (e.g. where a mirror was looked for).
    """
    temporary = temporary_beside(target)
    try:
        with temporary.open("wb") as out:
            digest = _stream(url, out, timeout_s, progress, hint)
        check_digest(url, digest, expected)
        os.replace(temporary, target)
        return digest
    finally:
        temporary.unlink(missing_ok=True)


def _stream(
    url: str, out: BinaryIO, timeout_s: float, progress: ProgressCallback | None, hint: str
) -> str:
    """Copy the body of ``url`` into ``out``, reporting to ``progress``; its sha256.

    Raises :class:`~geo.errors.SourceUnavailable` when the network fails or the body is cut short.
    """
    digest, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            total = response.length
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailable(f"{url} answered HTTP {exc.code} {exc.reason}{hint}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SourceUnavailable(
            f"could not reach {url}: {reason}{hint}; use --mirror DIR or try again online"
        ) from exc
    if total is not None and done != total:
        raise SourceUnavailable(f"download of {url} was cut short: {done} of {total} bytes")
    return digest.hexdigest()
