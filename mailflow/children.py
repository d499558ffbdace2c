"""What every child process of the daemon does first: leave stopping to the parent.

The parse workers and the sending process are forks of the daemon. Ctrl-C reaches the whole
process group, but only the main process decides how to stop (finish the mail in hand, then
stop its children), so children ignore SIGINT. SIGTERM keeps its default, because it is how
``multiprocessing`` stops a child that does not answer; the systemd unit in the README sets
``KillMode=mixed`` so that a stop signals the main process only. A child must not outlive its
parent either: when the daemon is SIGKILLed, Linux kills the children too.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal

_PR_SET_PDEATHSIG = 1


def before_fork() -> None:
    """Move every object so far out of the collector's sight before forking.

    A child then shares the parent's memory instead of copying each page the collector would
    otherwise walk (and write reference bits into) on its first collection.
    """
    gc.freeze()


def die_with_parent(parent: int) -> None:
    """Ignore Ctrl-C, and die when process ``parent`` (our parent) does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: an orphan ends when its pipe to the parent closes
    if os.getppid() != parent:  # the parent died before we asked to die with it
        os._exit(0)
