"""Articles as Markdown files with YAML front matter, the form a team keeps its FAQ in git. Pure.

A file is ``---``, the front matter (``title``, ``category``, ``keywords`` as a list and
``symptoms`` are required; ``id``, ``status``, ``cause``, ``author``, ``created``,
``updated``, ``from_tickets``, ``helped_tickets`` and ``attachments`` are optional), ``---``,
then the solution steps as the Markdown body. ``dump`` writes the keys in one fixed order and
multi-line text as literal blocks, so exporting what was imported gives the same bytes again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

REQUIRED = ("title", "category", "keywords", "symptoms")
ORDER = (
    "id",
    "title",
    "category",
    "status",
    "keywords",
    "symptoms",
    "cause",
    "author",
    "created",
    "updated",
    "published_by",
    "from_tickets",
    "helped_tickets",
    "attachments",
)
STATUSES = ("draft", "published", "retired")


class FileError(ValueError):
    """A file that cannot be read as an article; ``line`` is 1-based (0: the whole file)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class ArticleText:
    """One article as its file says it."""

    title: str
    category: str
    keywords: list[str]
    symptoms: str
    steps: str
    id: int | None = None
    status: str = "published"
    cause: str = ""
    author: str = ""
    created: str = ""
    updated: str = ""
    published_by: str = ""
    from_tickets: list[str] = field(default_factory=list)
    helped_tickets: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)


_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?\n?", re.DOTALL | re.MULTILINE)


def parse(text: str) -> ArticleText:
    """The article in ``text``; ``FileError`` names the line when it is not one."""
    text = text.removeprefix("\ufeff")
    found = _FRONT.match(text)
    if found is None:
        raise FileError(1, "no front matter: the file must start with a line '---'")
    try:
        data = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for 1-based, +1 for the '---'
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileError(line, f"front matter is not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise FileError(2, "front matter must be key: value lines")
    body_line = found.group(0).count("\n") + 1
    return _article(data, text[found.end() :], _lines(found.group(1)), body_line)


def _lines(front: str) -> dict[str, int]:
    """The line of each top-level key, for messages."""
    lines: dict[str, int] = {}
    for number, line in enumerate(front.splitlines(), start=2):
        key = re.match(r"^([A-Za-z_]+)\s*:", line)
        if key:
            lines.setdefault(key.group(1), number)
    return lines


def _article(data: dict[str, Any], body: str, lines: dict[str, int], body_line: int) -> ArticleText:
    for key in REQUIRED:
        if data.get(key) in (None, "", []):
            raise FileError(lines.get(key, 2), f"front matter has no {key!r}")
    unknown = sorted(set(data) - set(ORDER))
    if unknown:
        raise FileError(lines.get(unknown[0], 2), f"unknown front matter key {unknown[0]!r}")
    for key in ("keywords", "from_tickets", "helped_tickets", "attachments"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise FileError(lines.get(key, 2), f"{key!r} must be a list of words")
    status = str(data.get("status", "published"))
    if status not in STATUSES:
        raise FileError(lines.get("status", 2), f"status must be one of {', '.join(STATUSES)}")
    article_id = data.get("id")
    if article_id is not None and (not isinstance(article_id, int) or article_id < 1):
        raise FileError(lines.get("id", 2), "id must be a positive whole number")
    steps = body.strip("\n")
    if not steps.strip():
        raise FileError(body_line, "no solution steps after the front matter")
    return ArticleText(
        title=_text(data, "title", lines),
        category=_text(data, "category", lines),
        keywords=[str(k).strip() for k in data["keywords"] if str(k).strip()],
        symptoms=_text(data, "symptoms", lines),
        steps=steps,
        id=article_id,
        status=status,
        cause=_text(data, "cause", lines),
        author=_text(data, "author", lines),
        created=_text(data, "created", lines),
        updated=_text(data, "updated", lines),
        published_by=_text(data, "published_by", lines),
        from_tickets=[str(t) for t in data.get("from_tickets", [])],
        helped_tickets=[str(t) for t in data.get("helped_tickets", [])],
        attachments=[str(a) for a in data.get("attachments", [])],
    )


def _text(data: dict[str, Any], key: str, lines: dict[str, int]) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, list | dict):
        raise FileError(lines.get(key, 2), f"{key!r} must be text")
    return str(value).strip()


class _Block(str):
    """Multi-line text, written as a YAML literal block."""


def _block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, _block)


def dump(article: ArticleText) -> str:
    """The file of ``article``: keys in a fixed order, empty optional keys left out."""
    front: dict[str, Any] = {}
    for key in ORDER:
        value = getattr(article, key)
        if value in (None, "", []) and key not in REQUIRED:
            continue
        if isinstance(value, str) and "\n" in value:
            value = _Block(value)
        front[key] = value
    header = yaml.dump(front, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{header}---\n\n{article.steps.strip(chr(10))}\n"
