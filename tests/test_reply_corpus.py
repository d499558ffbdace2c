"""The reply corpus (tests/mail/replies/, see make_corpus.py): every client's reply threaded
the way mailflow reads it, its visible text compared with what a person expects.

Prints the share of exact matches (whitespace aside) and the misses; fails below 90 %.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailflow.mail.parsing import parse
from mailflow.mail.quoting import visible_text

CORPUS = Path(__file__).parent / "mail" / "replies"


def normalized(text: str) -> str:
    """Blank lines and runs of spaces do not count; every character of every line does."""
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def test_reply_corpus_visible_text() -> None:
    cases = sorted(CORPUS.glob("*.eml"))
    assert len(cases) >= 60, f"the corpus has {len(cases)} mails, fewer than 60"
    misses = []
    for path in cases:
        mail = parse(path.read_bytes())
        got = visible_text(mail.text, mail.html, mail.subject)
        expected = path.with_suffix(".expected.txt").read_text(encoding="utf-8")
        if normalized(got) != normalized(expected):
            misses.append(
                f"{path.name}:\n  expected {normalized(expected)!r}\n  got      {normalized(got)!r}"
            )
    share = 1 - len(misses) / len(cases)
    print(f"\nreply corpus: {len(cases) - len(misses)} of {len(cases)} exact ({share:.0%})")
    print("\n".join(misses))
    assert share >= 0.9, "\n".join(misses)
