"""Content-addressed file store for raw mails and attachments.

A blob lives at ``<root>/<aa>/<bb>/<sha256>``. Writes go to a temporary file in the same folder,
are fsynced, then renamed into place, so a crash leaves either the whole blob or none of it, and
storing the same bytes twice costs nothing. Blobs are written before the database transaction
that refers to them: a crash in between leaves an unreferenced blob, never a dangling reference.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

from mailflow.errors import StorageError


class BlobStore:
    """Stores bytes under their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: set[Path] = set()

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        try:
            if target.parent not in self._folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(target.parent)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(_describe(exc, self.root)) from exc
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``."""
        try:
            return self.path_for(digest).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"blob {digest} is missing from {self.root}") from None
        except OSError as exc:
            raise StorageError(_describe(exc, self.root)) from exc

    def check_writable(self) -> None:
        """Raise StorageError unless a blob can be written here now."""
        self.put(b"mailflow write check\n")


def _describe(exc: OSError, root: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"storage: disk full under {root}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"storage: {root} is not writable ({exc.strerror})"
    return f"storage: {exc.strerror or exc} ({root})"
