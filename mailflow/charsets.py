"""Decode bytes whose declared charset cannot be trusted.

Chinese mail is routinely mislabelled: GB2312 declared for GBK or GB18030 text, Big5 for
Big5-HKSCS, no label at all on 8-bit bytes. We decode with the widest superset of the declared
charset first, then fall back through the charsets real mail uses, and only as a last resort
replace what no charset can read.
"""

from __future__ import annotations

import codecs

# A declared charset → the superset that decodes everything the label is misused for.
SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "iso-gb2312": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "utf8": "utf-8",
}

# Tried in order when the declared charset fails or is missing. UTF-8 first: it almost never
# decodes text that is not UTF-8. GB18030 accepts nearly any byte pair, so it comes after the
# stricter multi-byte charsets would be pointless; it is the most common Chinese charset in mail.
FALLBACKS = ("utf-8", "gb18030", "big5hkscs", "cp932", "cp1252")


def normalize(label: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode ``data``; return the text and a defect note (None when the label was right)."""
    codec = normalize(declared)
    if codec is not None:
        try:
            return data.decode(codec), None
        except UnicodeDecodeError:
            pass
    if not data:
        return "", None
    if data.isascii() and b"\x1b$" in data:
        # ISO-2022-JP is 7-bit: without a label it passes for ASCII. The escape gives it away.
        try:
            return data.decode("iso2022_jp_ext"), _note(declared, "iso-2022-jp")
        except UnicodeDecodeError:
            pass
    for fallback in FALLBACKS:
        if fallback == codec:
            continue
        try:
            return data.decode(fallback), _note(declared, fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace"), _note(declared, "utf-8 with replacement characters")


def _note(declared: str | None, used: str) -> str | None:
    if declared is None:
        return None if used == "utf-8" else f"undeclared charset, decoded as {used}"
    return f"charset {declared!r} did not fit the bytes, decoded as {used}"
