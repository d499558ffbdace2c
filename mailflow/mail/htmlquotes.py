"""Quoted history in an HTML reply, removed as elements before the HTML becomes text.

The quote blocks clients write: ``<blockquote>`` (Apple Mail's ``type=cite``, Thunderbird
with its ``moz-cite-prefix`` attribution, Yandex, Mail.ru), Gmail's ``gmail_quote``,
Outlook on the web's ``divRplyFwdMsg`` (and everything after it), Outlook for Windows' header
box (a top-bordered block starting with "From:"), and QQ Mail's and Foxmail's "原始邮件"
separator (and everything after it). An attribution line just before a quote block goes with
it. Horizontal rules are dropped (they would become "* * *").

Text after a quote block means the writer answered below or between quotes: a single quote
with text after it is dropped (bottom-posting); several are each replaced by their last two
lines as "> …" context (inline answers). A forward keeps everything.

Returns None when the HTML has no quote block it knows, so that the caller reads the text.
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import NavigableString, PageElement, Tag

from mailflow.mail import quote_marks as marks
from mailflow.mail.htmltext import html_to_text

_OUTLOOK_BOX = re.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
_AFTER_ALL = ("divRplyFwdMsg", "appendonsend", "divReplyFwdMsg")


def html_visible(html: str, forward: bool) -> str | None:
    """The visible text of an HTML reply, or None if it has no quote block we know."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(["hr", "style", "script", "head", "title"]):
        element.decompose()
    if forward:
        return html_to_text(str(soup)) or None
    quotes = _quote_groups(soup)
    if not quotes:
        return None
    after = [_text_after(group) for group in quotes]
    for group, followed in zip(quotes, after, strict=True):
        if followed and sum(after) > 1:
            _replace_with_context(group)
        else:
            for part in group:
                part.extract()
    return html_to_text(str(soup)) or None


def _quote_groups(soup: Tag) -> list[list[PageElement]]:
    """The quote blocks, outermost first, each with its attribution and (for Outlook and QQ
    Mail) the siblings that follow it."""
    groups: list[list[PageElement]] = []
    taken: set[int] = set()
    for element in soup.find_all(True):
        if not isinstance(element, Tag) or any(id(p) in taken for p in element.parents):
            continue
        group = _group_at(element)
        if group:
            groups.append(group)
            taken.update(id(e) for e in group)
    return groups


def _group_at(element: Tag) -> list[PageElement]:
    classes = _classes(element)
    if element.get("id") in _AFTER_ALL or _outlook_box(element) or _separator(element):
        return [element, *_later_siblings(element)]
    if element.name == "blockquote" or "gmail_quote" in classes or "yahoo_quoted" in classes:
        if _forwarded(element):
            return []
        return [*_attribution_before(element), element]
    return []


def _outlook_box(element: Tag) -> bool:
    style = str(element.get("style") or "")
    if element.name != "div" or not _OUTLOOK_BOX.search(style):
        return False
    first = element.get_text("\n", strip=True).split("\n", 1)[0]
    return bool(marks.FROM_LINE.match(first))


def _separator(element: Tag) -> bool:
    if element.name not in ("div", "p", "span", "font"):
        return False
    text = element.get_text(" ", strip=True).replace("\xa0", " ")
    return len(text) < 80 and (marks.separator(text) or marks.UNDERSCORES.match(text) is not None)


def _forwarded(element: Tag) -> bool:
    head = element.get_text("\n", strip=True).replace("\xa0", " ").split("\n")[:3]
    return any(marks.forward_marker(line) for line in head)


def _later_siblings(element: Tag) -> list[PageElement]:
    return [s for s in element.find_next_siblings() if isinstance(s, Tag)]


def _attribution_before(element: Tag) -> list[PageElement]:
    """What stands just before a quote block, if it is its "On … wrote:" line: an element, or
    bare text as 163 Mail writes it."""
    for previous in element.previous_siblings:
        if isinstance(previous, Tag) and previous.name == "br":
            continue
        if isinstance(previous, NavigableString) and not previous.strip():
            continue
        if isinstance(previous, Tag) and "moz-cite-prefix" in _classes(previous):
            return [previous]
        text = (
            previous.get_text(" ", strip=True)
            if isinstance(previous, Tag)
            else str(previous).strip()
        )
        return [previous] if text and marks.attribution(text, ">") else []
    return []


def _text_after(group: list[PageElement]) -> bool:
    """Whether the writer's own text follows the quote block (outside any quote)."""
    last = group[-1]
    for node in last.find_all_next(string=True):
        if not isinstance(node, NavigableString) or not node.strip():
            continue
        if any(_quote_like(p) for p in node.parents):
            continue
        if any(p is last for p in node.parents):
            continue
        return True
    return False


def _quote_like(element: Tag) -> bool:
    return element.name == "blockquote" or "gmail_quote" in _classes(element)


def _classes(element: Tag) -> list[str]:
    value = element.get("class")
    return [str(v) for v in value] if isinstance(value, list) else []


def _replace_with_context(group: list[PageElement]) -> None:
    """An inline answer's quote: keep its last two lines as "> …" context."""
    soup = group[-1]
    lines = [line for line in soup.get_text("\n", strip=True).split("\n") if line.strip()]
    context = lines[-2:]
    for element in group[:-1]:
        element.extract()
    replacement = Tag(name="p")
    for n, line in enumerate(context):
        if n:
            replacement.append(Tag(name="br"))
        replacement.append(NavigableString("> " + line))
    soup.replace_with(replacement)
