"""Telling systemd how the daemon is doing: the sd_notify(3) protocol, a few lines of text in
one datagram to the Unix socket named by ``$NOTIFY_SOCKET`` (standard library only).

``READY=1`` once the first pass is done (mail read or not: a mailbox that is down at boot is
retried with backoff and shown in ``STATUS=``, rather than having systemd restart the daemon
over and over); ``WATCHDOG=1`` from the loop itself, once per turn, so a call that hangs
stops the feeding and ``WatchdogSec=`` restarts the daemon; ``STATUS=`` lines that
``systemctl status`` shows; ``STOPPING=1`` on the way out. Without ``$NOTIFY_SOCKET`` every
call does nothing (and a start by systemd without it is said once).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """The service manager's notification socket, if there is one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # A name starting with "@" is in the abstract namespace (a leading NUL byte).
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self._socket: socket.socket | None = None
        self._failed = False
        if not path and env.get("INVOCATION_ID"):
            log.info(
                "started by systemd without NOTIFY_SOCKET (Type=simple?): no readiness, status "
                "or watchdog messages; deploy/mailflow.service uses Type=notify"
            )

    def ready(self, status: str) -> None:
        self._send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1", "STATUS=stopping")

    def _send(self, *lines: str) -> None:
        if not self.address:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto("\n".join(lines).encode("utf-8"), self.address)
            self._failed = False
        except OSError as exc:
            if not self._failed:  # once per stretch of failures, not once per turn
                log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
            self._failed = True
