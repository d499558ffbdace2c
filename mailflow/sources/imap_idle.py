"""Waiting for new mail with IMAP IDLE (RFC 2177) on the connection the daemon keeps.

The server says "* n EXISTS" when mail arrives; Dovecot does so about half a second after
delivery. IDLE is re-issued at least every ``idle_seconds`` (RFC 2177: under 29 minutes; some
servers and NAT boxes drop quiet connections sooner). imapclient's ``idle_check`` returns an
empty list on a dead connection instead of raising, so a socket that select() reports readable
and that then yields no response is taken for a hang-up: the caller reconnects and searches
for everything newer than the last UID it handled, so mail that arrived meanwhile is found.
"""

from __future__ import annotations

import select
import threading
import time

import imapclient
from imapclient.exceptions import IMAPClientError

MAIL, TIMEOUT, DEAD, STOPPED = "mail", "timeout", "dead", "stopped"
_SLICE_SECONDS = 0.5  # how often a stop request is looked at while idling


def announces_mail(responses: list[tuple[object, ...]]) -> bool:
    """Whether untagged responses (of IDLE or a NOOP) say the folder grew."""
    return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


def idle_wait(client: imapclient.IMAPClient, seconds: float, stopping: threading.Event) -> str:
    """IDLE for up to ``seconds``: MAIL, TIMEOUT, DEAD (reconnect) or STOPPED."""
    try:
        client.idle()
        outcome = _watch(client, time.monotonic() + seconds, stopping)
    except (OSError, IMAPClientError):
        return DEAD
    if outcome == DEAD:
        return DEAD
    try:
        client.idle_done()
    except (OSError, IMAPClientError):
        return DEAD
    return outcome


def _watch(client: imapclient.IMAPClient, deadline: float, stopping: threading.Event) -> str:
    sock = client.socket()
    while not stopping.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return TIMEOUT
        readable, _, _ = select.select([sock], [], [], min(_SLICE_SECONDS, left))
        if not readable:
            continue
        responses = client.idle_check(timeout=0)
        if not responses:
            return DEAD  # readable, yet nothing to read: the server hung up
        if announces_mail(responses):
            return MAIL
        # "* OK Still here" and flag changes: keep waiting
    return STOPPED
