"""Ticket states and the transitions between them (spec steps 3 to 6).

    new ──► assigned ──► in_progress ◄──► waiting
     │         │             │               │
     └─────────┴─────────────┴──► resolved ◄─┘
                                     │  ▲
                          confirmed  ▼  │ not solved / reopened
                                   closed ─► in_progress (reopen)

``waiting`` means waiting for the requester. ``closed`` is reached from ``resolved`` (the
requester confirms, or stays silent long enough); a closed ticket can only be reopened.
"""

from __future__ import annotations

STATES = ("new", "assigned", "in_progress", "waiting", "resolved", "closed")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("assigned", "in_progress", "waiting", "resolved"),
    "assigned": ("in_progress", "waiting", "resolved"),
    "in_progress": ("assigned", "waiting", "resolved"),
    "waiting": ("in_progress", "resolved"),
    "resolved": ("in_progress", "closed"),
    "closed": ("in_progress",),
}


def can_move(current: str, target: str) -> bool:
    """Whether ``current`` → ``target`` is allowed."""
    return target in TRANSITIONS.get(current, ())


def refusal(current: str, target: str) -> str:
    """Why ``current`` → ``target`` is refused, for the person who asked."""
    allowed = ", ".join(TRANSITIONS.get(current, ())) or "none"
    return f"a ticket that is {current} cannot become {target} (allowed: {allowed})"
