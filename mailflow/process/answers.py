"""What a requester's reply means at the end of a ticket (spec step 5): a confirmation, a
"not solved", or a satisfaction rating. Pure."""

from __future__ import annotations

import re
from typing import Literal

from mailflow.spec import RATINGS, RATINGS_EN

# The spec's four levels. Numbers count up like stars: 4 is the best (the survey mail shows
# each number next to its word, so nobody has to guess).

_NO = (
    "未解决",
    "没解决",
    "没有解决",
    "还是不行",
    "仍然不行",
    "还不行",
    "不行",
    "没好",
    "没有好",
    "not solved",
    "not fixed",
    "still not",
    "still broken",
    "doesn't work",
    "does not work",
    "not working",
    "didn't help",
    "did not help",
    "didn't work",
    "did not work",
    "没用",
    "没有用",
    "不管用",
    "no",
)
_YES = (
    "确认",
    "已解决",
    "解决了",
    "好了",
    "可以了",
    "没问题了",
    "正常了",
    "谢谢",
    "confirmed",
    "confirm",
    "solved",
    "resolved",
    "fixed",
    "works",
    "yes",
    "ok",
    "thanks",
    "thank you",
)

Meaning = Literal["yes", "no", "other"]


def _first_words(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first.lower()[:80]


# The words that say "the steps you sent solved it": narrower than _YES, because a thank-you
# for an acknowledgement ("谢谢，我试试") must not close a ticket.
_SOLVED = (
    "已解决",
    "解决了",
    "好了",
    "可以了",
    "没问题了",
    "正常了",
    "solved",
    "resolved",
    "fixed",
    "it works",
    "that worked",
    "it worked",
    "works now",
)


def confirmation(text: str, strict: bool = False) -> Meaning:
    """A reply to "is it solved?": yes, no, or something else (new text reopens).

    ``strict``: only words that say it is solved count as yes (answers to offered steps).
    """
    first = _first_words(text)
    if not first:
        return "other"
    # "没解决" contains "解决": the negative forms are checked first.
    for word in _NO:
        if re.search(
            rf"(^|\W){re.escape(word)}($|\W)" if word.isascii() else re.escape(word), first
        ):
            return "no"
    body = text.strip()
    for word in _SOLVED if strict else _YES:
        hit = re.search(
            rf"(^|\W){re.escape(word)}($|\W)" if word.isascii() else re.escape(word), first
        )
        if hit and len(body) <= 200:  # a long mail is more than a confirmation: read it
            return "yes"
    return "other"


def rating(text: str) -> tuple[int, str] | None:
    """A survey answer: the level and any comment after it; None if the reply is not one."""
    first = _first_words(text)
    match = re.match(r"^\s*([1-4])(?!\d)", first)
    level: int | None = int(match.group(1)) if match else None
    if level is None:
        for number, word in sorted(RATINGS.items(), key=lambda kv: -len(kv[1])):
            if first.startswith(word) or first.startswith(RATINGS_EN[number]):
                level = number
                break
    if level is None:
        return None
    lines = [line for line in text.strip().splitlines()]
    head = re.sub(
        r"^\s*([1-4]|" + "|".join(map(re.escape, [*RATINGS.values(), *RATINGS_EN.values()])) + r")",
        "",
        lines[0],
        flags=re.IGNORECASE,
    ).strip(" .:：,，-")
    comment = "\n".join([head, *lines[1:]]).strip()
    return level, comment
