"""The collaborators every part of the ticket workflow is handed (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee as pw

if TYPE_CHECKING:  # a bag of collaborators: any layer may take one, so it imports none
    from mailflow.config import Config
    from mailflow.delivery.rendering import Renderer
    from mailflow.store.blobs import BlobStore

MB = 1024 * 1024


@dataclass
class Services:
    """What the workflow needs from outside: settings, storage, templates, randomness."""

    config: Config
    db: pw.Database
    store: BlobStore
    renderer: Renderer
    token: Callable[[], str]
