"""Authentication-Results (RFC 8601) read as the RFC says, and the authority they give.

Three rules, each closing a way to forge a staff member's authority:

1. **Only our own border's verdict counts.** Anyone can write an Authentication-Results header
   with our authserv-id into the mail they send; our border prepends its own above everything
   the sender wrote. So only the topmost block of authentication headers that carries our id is
   read (``top_blocks`` keeps the blocks; ``trusted_results`` takes the first with our id), and
   instances further down, below our own verdict or below any other header, are the sender's.
2. **A real tokenizer.** Comments (nested, with quoted pairs) and quoted strings are tokens, so
   ``smtp.mailfrom="x;dkim=pass header.d=example.com"@evil.test`` is one value whose domain is
   ``evil.test``, not a second, passing result.
3. **Alignment by organisational domain** (DMARC's relaxed alignment): a pass counts only when
   the authenticated domain and the From domain share their registrable domain under the public
   suffix list (``publicsuffixlist``, data shipped in the package and never fetched at run time).
   ``d=com.cn`` or ``d=test`` is a public suffix and aligns with nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# Headers our border writes in one go with its Authentication-Results; any other header between
# two Authentication-Results ends a block.
_BLOCK_HEADERS = frozenset(
    {
        "authentication-results",
        "arc-authentication-results",
        "arc-message-signature",
        "arc-seal",
        "received-spf",
    }
)
_SPECIALS = ";=/"


@dataclass(frozen=True)
class Result:
    method: str  # lower case: dkim, spf, dmarc, ...
    result: str  # lower case: pass, fail, none, ...
    properties: dict[str, str] = field(default_factory=dict)  # "header.d" -> value


@dataclass(frozen=True)
class Header:
    authserv_id: str
    results: tuple[Result, ...]


def top_blocks(head: Iterable[tuple[str, bytes]]) -> list[list[bytes]]:
    """The Authentication-Results values of each block of authentication headers, top first."""
    blocks: list[list[bytes]] = []
    current: list[bytes] | None = None
    for name, value in head:
        if name not in _BLOCK_HEADERS:
            current = None
            continue
        if current is None:
            current = []
            blocks.append(current)
        if name == "authentication-results":
            current.append(value)
    return [block for block in blocks if block]


def trusted_results(blocks: Sequence[Sequence[str]], authserv_id: str) -> list[Result]:
    """The results our border wrote: those with our id in the first block that has any."""
    wanted = authserv_id.lower()
    for block in blocks:
        headers = [h for h in (parse(value) for value in block) if h is not None]
        ours = [h for h in headers if h.authserv_id.lower() == wanted]
        if ours:
            return [result for header in ours for result in header.results]
    return []


def aligned_pass(results: Iterable[Result], from_domain: str) -> str:
    """The first passing DKIM, SPF or DMARC result aligned with ``from_domain``, described
    (``dkim=pass header.d=example.com``); empty when there is none."""
    organisation = organisational_domain(from_domain)
    if organisation is None:
        return ""
    keys = {"dkim": ("header.d", "header.i"), "spf": ("smtp.mailfrom",), "dmarc": ("header.from",)}
    for result in results:
        if result.result != "pass" or result.method not in keys:
            continue
        for key in keys[result.method]:
            value = result.properties.get(key, "")
            domain = value.rsplit("@", 1)[-1].strip().lower().rstrip(".")
            if domain and organisational_domain(domain) == organisation:
                return f"{result.method}=pass {key}={value}"
    return ""


def organisational_domain(domain: str) -> str | None:
    """The registrable domain (``mail.example.com.cn`` → ``example.com.cn``); None for a
    public suffix itself or something that is no domain."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    found = _suffix_list().privatesuffix(ascii_domain)
    return str(found) if found else None


@functools.cache
def _suffix_list() -> Any:
    # Imported and built on first use: ~10,000 rules, read only when a trust check runs.
    from publicsuffixlist import PublicSuffixList  # noqa: PLC0415

    return PublicSuffixList()


def parse(value: str) -> Header | None:
    """One header value; None when it is not well-formed (then nothing in it is believed)."""
    tokens = list(_tokens(value))
    try:
        return _Parser(tokens).header()
    except _Malformed:
        return None


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "quoted", or the special character itself
    text: str
    glued: bool  # no space or comment before it


def _tokens(value: str) -> Iterator[_Token]:
    """Words, quoted strings and ``; = /``; whitespace and (nested) comments dropped."""
    i, n, glued = 0, len(value), True
    while i < n:
        ch = value[i]
        if ch.isspace():
            i, glued = i + 1, False
        elif ch == "(":
            i, glued = _skip_comment(value, i), False
        elif ch == '"':
            text, i = _quoted(value, i)
            yield _Token("quoted", text, glued)
            glued = True
        elif ch in _SPECIALS:
            yield _Token(ch, ch, glued)
            i, glued = i + 1, True
        else:
            start = i
            while i < n and not value[i].isspace() and value[i] not in '()";=/':
                i += 1
            yield _Token("word", value[start:i], glued)
            glued = True


def _skip_comment(value: str, i: int) -> int:
    depth = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        i += 1
        if depth == 0:
            return i
    return len(value)  # an unclosed comment swallows the rest


def _quoted(value: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    i += 1
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise _Malformed  # unterminated: nothing after it can be read safely


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            raise _Malformed
        self.at += 1
        return token

    def header(self) -> Header:
        authserv_id = self.take("word", "quoted").text
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.isdigit():
            self.at += 1  # authres-version
        results: list[Result] = []
        while self.peek() is not None:
            self.take(";")
            if self.peek() is None:
                break  # a trailing semicolon
            method = self.take("word").text.lower()
            if method == "none" and self.peek() is None:
                break  # "no-result"
            results.append(self.result(method))
        return Header(authserv_id, tuple(results))

    def result(self, method: str) -> Result:
        if self.peek() is not None and self.peek().kind == "/":  # type: ignore[union-attr]
            self.at += 1
            self.take("word")  # method version
        self.take("=")
        result = self.take("word").text.lower()
        properties: dict[str, str] = {}
        while (token := self.peek()) is not None and token.kind != ";":
            name = self.take("word").text.lower()
            self.take("=")
            value = self.pvalue()
            if name != "reason":
                if "." not in name:
                    raise _Malformed
                properties.setdefault(name, value)
        return Result(method, result, properties)

    def pvalue(self) -> str:
        """A value, or ``"quoted local part"@domain`` written as two glued tokens."""
        value = self.take("word", "quoted").text
        token = self.peek()
        while token is not None and token.glued and token.kind in ("word", "quoted"):
            value += token.text
            self.at += 1
            token = self.peek()
        return value
