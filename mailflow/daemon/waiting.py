"""Waiting for mail in several mailboxes at once.

One mailbox waits in the calling thread (IMAP IDLE, or a plain sleep). Several each IDLE in a
thread of their own, all on one shared event: the first that hears of mail (or loses its
connection) sets it, which ends every other wait within its next check, so the next pass reads
them all. A stop request sets it too. imapclient is not thread-safe per connection, but each
mailbox owns its connection and only its own thread touches it while waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

# wait_for_mail(seconds, stop): True when a pass should read the mailbox now.
Waiter = Callable[[float, threading.Event], bool]

CHECK_SECONDS = 0.2  # how soon a stop request ends a wait on several mailboxes


def wait_for_any(waiters: Sequence[Waiter], seconds: float, stopping: threading.Event) -> bool:
    """Wait up to ``seconds`` until any mailbox has mail; True if one does."""
    if not waiters:
        stopping.wait(seconds)
        return False
    if len(waiters) == 1:
        return waiters[0](seconds, stopping)
    woken = threading.Event()
    heard = threading.Event()

    def wait(waiter: Waiter) -> None:
        try:
            if waiter(seconds, woken):
                heard.set()
        finally:
            woken.set()  # one ending ends them all: the pass reads every mailbox anyway

    threads = [
        threading.Thread(target=wait, args=(w,), name="mailflow-idle", daemon=True) for w in waiters
    ]
    for thread in threads:
        thread.start()
    while not woken.wait(CHECK_SECONDS):
        if stopping.is_set():
            woken.set()
    for thread in threads:
        thread.join()
    return heard.is_set()
