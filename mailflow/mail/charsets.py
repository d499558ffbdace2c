"""Decode bytes whose declared charset cannot be trusted.

Chinese mail is routinely mislabelled: GB2312 declared for GBK or GB18030 text, Big5 for
Big5-HKSCS, no label at all on 8-bit bytes. We decode with the widest superset of the declared
charset first, then fall back through the charsets real mail uses, and only as a last resort
replace what no charset can read.
"""

from __future__ import annotations

import codecs
import re

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
    except (LookupError, ValueError):  # unknown, or garbage such as an embedded NUL
        return None


_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_KANA = re.compile(r"[\u3041-\u30ff]")
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")


def decode(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode ``data``; return the text and a defect note (None when the label was right)."""
    if not data:
        return "", None
    codec = normalize(declared)
    if data.isascii() and b"\x1b$" in data:
        # ISO-2022-JP is 7-bit: unlabelled or labelled ASCII it passes for plain text. The
        # escape sequences give it away. Windows writes NEC extensions (①, ㈱) that only the
        # JIS X 0213 variant knows, hence the list.
        label_fits = (codec or "").startswith("iso2022_jp")
        for variant in ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_2"):
            try:
                text = data.decode(variant)
            except UnicodeDecodeError:
                continue
            return text, None if label_fits else _note(declared, "iso-2022-jp")
        windows = _iso2022jp_as_cp932(data)
        if windows is not None:
            return windows, None if label_fits else _note(declared, "iso-2022-jp")
    if codec is not None:
        try:
            return data.decode(codec), None
        except UnicodeDecodeError:
            pass
    decoded = _guess(data, codec)
    if decoded is not None:
        return decoded[0], _note(declared, decoded[1])
    return data.decode("utf-8", "replace"), _note(declared, "utf-8 with replacement characters")


def _guess(data: bytes, tried: str | None) -> tuple[str, str] | None:
    results: dict[str, str] = {}
    for fallback in FALLBACKS:
        if fallback == tried:
            continue
        try:
            results[fallback] = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        if fallback == "utf-8":
            return results[fallback], fallback
    if "gb18030" in results and "big5hkscs" in results and _reads_as_big5(data):
        # Before the Western check: half of Big5's trail bytes are ASCII letters, so Big5
        # text looks like single high bytes between letters ("\xb5L\xaak" is 無法).
        return results["big5hkscs"], "big5hkscs"
    mixed = _mostly_utf8(data)
    if mixed is not None:
        return mixed, "utf-8 with stray cp1252 bytes"
    if "cp1252" in results and max(map(len, _HIGH_RUN.findall(data)), default=0) <= 2:
        # Chinese and Japanese text has runs of high bytes (two per character, and words of
        # several characters); one or two between ASCII letters ("Hofj\xe4geralle",
        # "Gr\xfc\xdfe") is a Western single-byte charset.
        return results["cp1252"], "cp1252"
    # GB18030 decodes almost any byte pairs, Shift_JIS among them. Japanese decoded as
    # Shift_JIS shows kana; Chinese decoded as Shift_JIS shows half-width katakana noise.
    japanese = results.get("cp932")
    if japanese and _KANA.search(japanese) and not _HALFWIDTH_KANA.search(japanese):
        return japanese, "cp932"
    for fallback in FALLBACKS:
        if fallback in results:
            return results[fallback], fallback
    return None


def _reads_as_big5(data: bytes) -> bool:
    """Whether bytes that both GB18030 and Big5 decode are Big5.

    Both standards put their common characters first: Big5's level 1 has lead bytes A4-C6 (any
    trail), GB2312's level 1 leads B0-D7 with trails from A1. Real text keeps to its own
    standard's common block, so the share of byte pairs in each block decides. Measured on
    ``tests/mail/charsets/`` (18 Big5 texts, the same 18 written in GB18030 as traditional
    characters, 18 simplified ones): Big5 text is 0.87-1.0 in Big5's block against at most 0.5
    in GB's; GB text is 0.86-1.0 in GB's block against at most 0.75 in Big5's. Without this,
    every unlabelled Big5 mail came out as GB18030 mojibake (0 of 18 right).
    """
    big5 = gb = pairs = 0
    i, end = 0, len(data) - 1
    while i < end:
        lead = data[i]
        if lead < 0x81:
            i += 1
            continue
        trail = data[i + 1]
        pairs += 1
        big5 += 0xA4 <= lead <= 0xC6 and (0x40 <= trail <= 0x7E or trail >= 0xA1)
        gb += 0xB0 <= lead <= 0xD7 and trail >= 0xA1
        i += 2
    # At least 0.8 in Big5's block (the samples: 0.87 and more) keeps Western text with a
    # stray "25\xb0C" or "\xc4rger" out.
    return pairs >= 2 and big5 > gb and big5 >= 0.8 * pairs


_JIS_ESCAPES = re.compile(rb"\x1b(\$B|\$@|\(B|\(J|\(I)")


def _iso2022jp_as_cp932(data: bytes) -> str | None:
    """ISO-2022-JP as Windows writes it (CP50220: NEC row 13, IBM extensions), which no Python
    codec reads: re-code the JIS X 0208 pairs to Shift_JIS and decode with cp932."""
    out = bytearray()
    mode = b"(B"
    pos = 0
    for match in [*_JIS_ESCAPES.finditer(data), None]:
        end = match.start() if match else len(data)
        chunk = data[pos:end]
        if mode in (b"$B", b"$@"):
            chunk = chunk.replace(b"\n", b"").replace(b"\r", b"")
            if len(chunk) % 2:
                return None
            for i in range(0, len(chunk), 2):
                out += _jis_to_sjis(chunk[i], chunk[i + 1])
        elif mode == b"(I":
            out += bytes(b + 0x80 for b in chunk)
        else:
            out += chunk
        if match:
            mode = match.group(1)
            pos = match.end()
    try:
        return out.decode("cp932")
    except UnicodeDecodeError:
        return None


def _jis_to_sjis(first: int, second: int) -> bytes:
    row = (first + 1) // 2 + (0x70 if first <= 0x5E else 0xB0)
    cell = second + (0x1F if first % 2 else 0x7E)
    if first % 2 and second >= 0x60:
        cell += 1
    return bytes([row, cell])


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few stray single-byte (cp1252) characters, as when texts are pasted
    together; None unless real UTF-8 sequences clearly dominate the undecodable bytes."""
    text = data.decode("utf-8", "surrogateescape")
    stray = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and not "\udc80" <= ch <= "\udcff")
    if not multibyte or 2 * stray > multibyte:
        # Two undecodable bytes for each real sequence is what GBK or Big5 bytes give by
        # chance (0xE0 0xBE 0x80 is valid UTF-8): not UTF-8 with a few strays.
        return None
    return "".join(
        bytes([ord(ch) - 0xDC00]).decode("cp1252", "replace") if "\udc80" <= ch <= "\udcff" else ch
        for ch in text
    )


def _note(declared: str | None, used: str) -> str | None:
    if declared is None:
        return None if used == "utf-8" else f"undeclared charset, decoded as {used}"
    return f"charset {declared!r} did not fit the bytes, decoded as {used}"
