"""Large outgoing mails (a request's files forwarded to its handler) kept in the blob store.

A mail of many megabytes in an outbox row is copied by the database driver, assembled into
pages, cached and written to the WAL: several copies in the process that queues it and the
one that sends it. Over ``LARGE_MAIL`` the bytes go to the blob store instead, written piece
by piece as they are built (never joined), and the row keeps their digest.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailflow.errors import StorageError
from mailflow.store.blobs import BlobStore
from mailflow.store.models import Outbox

LARGE_MAIL = 1024 * 1024  # bytes


def keep(pieces: Sequence[bytes], store: BlobStore | None) -> tuple[bytes, str, int]:
    """The mail's bytes for the row, or its digest in the store (synced before the row
    commits); and its size."""
    size = sum(len(p) for p in pieces)
    if store is None or size <= LARGE_MAIL:
        return b"".join(pieces), "", size
    return b"", store.put_chunks(pieces)[0], size


def mime_of(row: Outbox, store: BlobStore | None) -> bytes:
    """The bytes to send of an outbox row."""
    if row.mime_sha256:
        if store is None:
            raise StorageError(f"outbox row {row.id}: its mail is in the blob store")
        return store.get(row.mime_sha256)
    return bytes(row.mime)
