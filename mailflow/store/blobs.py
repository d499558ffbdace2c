"""Content-addressed file store for raw mails and attachments.

A blob lives at ``<root>/<aa>/<sha256>``: 256 folders, as git keeps its objects, so after the
first few hundred blobs a new one costs no folder creation (ext4 and XFS index large folders,
and a million blobs make about 4,000 entries a folder). Writes go to a temporary file in the
same folder, are fsynced, then renamed into place, so a crash leaves either the whole blob or
none of it, and storing the same bytes twice costs nothing. Blobs are written before the
database transaction that refers to them: a crash in between leaves an unreferenced blob, never
a dangling reference.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mailflow.errors import StorageError

_streams = itertools.count(1)


class BlobStore:
    """Stores bytes under their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: set[Path] = set()
        self._unsynced: list[Path] = []

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes, sync: bool = True) -> str:
        """Store ``data`` and return its sha256 hex digest.

        ``sync=False`` leaves making it durable to a later ``sync()``, so that a group of blobs
        costs one flush instead of one per file.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        try:
            self._make_folder(target)
            # The name is unique per blob and process; a leftover from a crashed run with the
            # same pid is simply overwritten.
            tmp = target.parent / f".tmp-{digest}-{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            # The folder may have been removed behind our back: look again next time.
            self._folders.discard(target.parent)
            raise StorageError(_describe(exc, self.root)) from exc
        self._written(target, sync)
        return digest

    def put_chunks(self, chunks: Iterable[bytes], sync: bool = True) -> tuple[str, int, bool]:
        """Store the concatenation of ``chunks`` without holding it whole; its sha256, its
        size, and whether the blob is new (a blob that was there already must not be
        discarded: something else refers to it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-stream-{os.getpid()}-{next(_streams)}"
        hasher, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as handle:
                for chunk in chunks:
                    hasher.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            digest = hasher.hexdigest()
            target = self.path_for(digest)
            if target.exists():
                tmp.unlink()
                return digest, size, False
            self._make_folder(target)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(_describe(exc, self.root)) from exc
        self._written(target, sync)
        return digest, size, True

    def _make_folder(self, target: Path) -> None:
        """The blob's folder, made once per process."""
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)

    def _written(self, target: Path, sync: bool) -> None:
        """A new blob in place: durable now, or at the next ``sync()``."""
        self._unsynced.append(target)
        if sync:
            self.sync()

    def discard(self, digest: str) -> None:
        """Remove a blob this process just made and nothing refers to."""
        path = self.path_for(digest)
        path.unlink(missing_ok=True)
        if path in self._unsynced:
            self._unsynced.remove(path)

    def sync(self, written_elsewhere: Sequence[str] = ()) -> None:
        """Make every blob written since the last sync durable (contents and folder entries).

        ``written_elsewhere``: digests of blobs another process wrote and left unsynced.
        """
        self._unsynced += [self.path_for(digest) for digest in written_elsewhere]
        if not self._unsynced:
            return
        pending, self._unsynced = self._unsynced, []
        try:
            if len(pending) > 1 and _syncfs(self.root):
                return
            folders = set()
            for path in pending:
                _fsync_path(path, os.O_RDONLY)
                folders.add(path.parent)
            for folder in folders:
                _fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            self._unsynced = pending + self._unsynced
            raise StorageError(_describe(exc, self.root)) from exc

    def forget_unsynced(self) -> None:
        """Leave syncing what was written to another process (which is told the digests)."""
        self._unsynced = []

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


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(root: Path) -> bool:
    """Flush the whole file system holding ``root`` in one call (Linux); False if unavailable.

    One syncfs(2) replaces an fsync per file and per folder for a group of new blobs.
    """
    libc = _libc()
    if libc is None:
        return False
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


def _describe(exc: OSError, root: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"storage: disk full under {root}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"storage: {root} is not writable ({exc.strerror})"
    return f"storage: {exc.strerror or exc} ({root})"
