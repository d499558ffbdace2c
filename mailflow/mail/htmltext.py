"""HTML mail bodies to readable plain text."""

from __future__ import annotations

import re

_BLANK_RUNS = re.compile(r"\n{3,}")
# html2text escapes what Markdown would read as a list, heading or rule at a line's start
# ("\---------- Forwarded message"); in plain text the backslash is noise.
_LINE_START_ESCAPE = re.compile(r"^(\s*)\\([-+#*>])", re.MULTILINE)
_NUMBER_ESCAPE = re.compile(r"^(\s*\d+)\\\.", re.MULTILINE)
_RULE = re.compile(r"^\s*\* \* \*\s*$", re.MULTILINE)  # what html2text makes of <hr>


def html_to_text(html: str) -> str:
    """Readable text for an HTML-only mail: paragraphs, lists and links kept, markup dropped."""
    import html2text  # noqa: PLC0415 - only HTML-only mails need it; keeps start-up fast

    converter = html2text.HTML2Text()
    converter.body_width = 0  # never re-wrap: Chinese text has no spaces to wrap at
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.unicode_snob = True  # keep real characters instead of ASCII approximations
    converter.single_line_break = True
    converter.ignore_mailto_links = True
    try:
        text = converter.handle(html)
    except Exception:
        text = re.sub(r"<[^>]+>", " ", html)
    text = _RULE.sub("", text)
    text = _NUMBER_ESCAPE.sub(r"\1.", _LINE_START_ESCAPE.sub(r"\1\2", text)).replace("\xa0", " ")
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", text).strip()
