"""The visible text of a reply: what its writer added, without the quoted history.

The rule is "show more, never less": nothing the writer wrote is removed.

- Top-posting (the new text above the quote, as Outlook, Gmail, QQ Mail, Foxmail and 163
  write): the text above the first quote mark (``quote_marks``).
- Bottom-posting (below the quote, as Thunderbird and mailing-list users write): the text
  around the quote, without the quote.
- Inline answers between quoted lines: each answer with the last two quoted lines it
  answers, kept as ``> …`` context.
- A forward ("---------- Forwarded message ----------", or a subject with Fwd:/转发:) is
  content: nothing after its marker is cut.
- An RFC 3676 signature ("-- ") and a device footer ("Sent from my iPhone", "发自我的
  iPhone" …) are trimmed only at the end and only when there is text before them.

HTML replies are handled before conversion by ``htmlquotes`` (the quote blocks of Gmail,
Outlook, Apple Mail, Thunderbird, QQ Mail, Yandex and Mail.ru are elements there); this module
handles the plain text, and the HTML when ``htmlquotes`` finds no quote block in it.
"""

from __future__ import annotations

import re

from mailflow.mail import quote_marks as marks

_BLANKS = re.compile(r"\n{3,}")
_SIGNATURE = ("-- ", "--")
_CONTEXT_LINES = 2
_SIGNATURE_MAX_LINES = 10


def visible_text(text: str, html: str | None = None, subject: str = "") -> str:
    """What the writer of a reply added; ``text`` itself when nothing else is left."""
    if html:
        # Beautiful Soup takes 60 ms to import: only HTML follow-ups pay for it.
        from mailflow.mail.htmlquotes import html_visible  # noqa: PLC0415

        found = html_visible(html, marks.forwarding(subject))
        if found:
            return trim_tail(found)
    return text_visible(text, subject)


def text_visible(text: str, subject: str = "") -> str:
    """The visible part of a plain-text reply."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = quote_start(lines, marks.forwarding(subject))
    if start is not None:
        index, kind = start
        lines = lines[:index] + _after_quote(lines[index:], kind)
    return trim_tail("\n".join(lines)) or text.strip()


def _next_text(lines: list[str], index: int) -> str:
    return next((line for line in lines[index + 1 : index + 4] if line.strip()), "")


def quote_start(lines: list[str], forward: bool) -> tuple[int, str] | None:
    """Where quoted history starts and how: ("quote", ">" lines), ("attribution", one line),
    ("attribution2", a wrapped one) or ("header", a header block or separator: all the rest
    is the quoted mail). None when there is none, or a forward comes first."""
    for i, line in enumerate(lines):
        if marks.forward_marker(line):
            return None
        if forward and (marks.separator(line) or marks.header_block(lines, i)):
            return None  # a forwarded mail's header: content
        if line.lstrip().startswith(">"):
            return i, "quote"
        if marks.attribution(line, _next_text(lines, i)):
            return i, "attribution"
        wrapped = _wrapped_attribution(lines, i)
        if wrapped:
            return i, f"attribution{wrapped}"
        if not any(earlier.strip() for earlier in lines[:i]):
            continue  # a header block first of all is pasted or forwarded, not a reply's quote
        if marks.separator(line) or marks.header_block(lines, i):
            return i, "header"
        if marks.UNDERSCORES.match(line) and any(
            marks.header_block(lines, j) for j in range(i + 1, min(i + 3, len(lines)))
        ):
            return i, "header"
    return None


def _wrapped_attribution(lines: list[str], i: int) -> int:
    """How many lines an attribution a client wrapped takes (2 or 3), or 0."""
    if not marks.dated(lines[i]) or lines[i].rstrip().endswith((":", "：")):
        return 0  # a wrapped attribution's first line carries its date
    joined = lines[i].rstrip()
    for extra in (1, 2):
        if i + extra >= len(lines) or not lines[i + extra].strip():
            return 0
        joined += " " + lines[i + extra].strip()
        if marks.attribution(joined, _next_text(lines, i + extra)):
            return extra + 1
    return 0


def _after_quote(rest: list[str], kind: str) -> list[str]:
    """What the writer added after the quote starts (bottom-posted or inline answers)."""
    if kind == "header":
        return []
    skip = {"quote": 0, "attribution": 1, "attribution2": 2, "attribution3": 3}[kind]
    if not any(line.lstrip().startswith(">") for line in rest[skip:]):
        return []  # a client that does not mark quoted lines (163): all of it is the quote
    blocks = _blocks(rest[skip:])
    answers = [n for n, (quoted, lines) in enumerate(blocks) if not quoted and _has_text(lines)]
    if not answers:
        return []
    quotes_before = {n for n in range(answers[-1]) if blocks[n][0]}
    kept: list[str] = []
    for n in answers:
        previous = blocks[n - 1] if n > 0 else None
        if len(quotes_before) > 1 and previous is not None and previous[0]:
            context = [line for line in previous[1] if line.strip(" \t>")][-_CONTEXT_LINES:]
            kept += ["", *context]
        kept += ["", *blocks[n][1]]
    return kept


def _blocks(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """Runs of quoted (">") and unquoted lines; blank lines stay with the run they are in."""
    blocks: list[tuple[bool, list[str]]] = []
    for line in lines:
        quoted = line.lstrip().startswith(">")
        if (not line.strip() and blocks) or (blocks and blocks[-1][0] == quoted):
            blocks[-1][1].append(line)
        else:
            blocks.append((quoted, [line]))
    return blocks


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def trim_tail(text: str) -> str:
    """Tidy blank lines; drop a trailing signature ("-- ") and device footers when text
    stands before them."""
    lines = [line.rstrip() for line in text.replace("\xa0", " ").split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    while len(lines) > 1 and marks.sent_from(lines[-1]) and _has_text(lines[:-1]):
        lines.pop()
        while lines and not lines[-1].strip():
            lines.pop()
    cut = _signature_at(lines)
    if cut is not None:
        lines = lines[:cut]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _signature_at(lines: list[str]) -> int | None:
    """The line of a trailing RFC 3676 signature separator, if what follows is short."""
    for i in range(len(lines) - 1, 0, -1):
        if lines[i] in _SIGNATURE or lines[i] == "-- ":
            after = [line for line in lines[i + 1 :] if line.strip()]
            if len(after) <= _SIGNATURE_MAX_LINES and _has_text(lines[:i]):
                return i
            return None
    return None
