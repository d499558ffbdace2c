"""The report's charts as PNG images (matplotlib, no display), with Chinese labels that show.

matplotlib's default font (DejaVu Sans) has no CJK glyphs: a chart with 满意 or 业务系统 in
it would show empty boxes. So a font with them is found first, and the report fails with one
clear message when there is none, rather than mail tofu. Where the font comes from, in order:

1. ``[reports] font``: a font file (``.ttf``, ``.ttc``, ``.otf``) named in the config;
2. an installed font of a family known to cover Chinese (WenQuanYi Micro Hei, Noto Sans CJK,
   Source Han Sans, Microsoft YaHei, SimHei, PingFang), as fontconfig or matplotlib find it;
   Debian: ``apt-get install fonts-wqy-microhei`` (4 MB; the README's install step does it).

Every font is checked for the characters the charts use before it is used.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

from mailflow.errors import MailflowError

FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Droid Sans Fallback",
)
PROBE = "中文满意不满意业务系统工单"
COLOURS = ("#0b5cad", "#8fb8e8", "#d9822b", "#c23030", "#5a8f29", "#7a7a7a")


class ChartError(MailflowError):
    """The charts cannot be drawn readably (no font with Chinese characters)."""


def _covers(path: Path, text: str) -> bool:
    from matplotlib import ft2font  # noqa: PLC0415 - matplotlib only where charts are drawn

    try:
        face = ft2font.FT2Font(str(path))
    except (OSError, RuntimeError, ValueError):
        return False
    return all(face.get_char_index(ord(ch)) for ch in text)


@functools.cache
def cjk_font(configured: str = "") -> Path:
    """A font file with the charts' Chinese characters; ChartError saying how to get one."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ChartError(f"[reports] font: no such file: {path}")
        if not _covers(path, PROBE):
            raise ChartError(f"[reports] font: {path} has no Chinese characters")
        return path
    from matplotlib import font_manager  # noqa: PLC0415

    for family in FAMILIES:
        found = (
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
            if _known(family)
            else None
        )
        if found and _covers(Path(found), PROBE):
            return Path(found)
    raise ChartError(
        "no installed font has Chinese characters, so the report's charts would show empty "
        "boxes: install one (Debian: apt-get install fonts-wqy-microhei) or set "
        "[reports] font = PATH"
    )


def _known(family: str) -> bool:
    from matplotlib import font_manager  # noqa: PLC0415

    return any(f.name == family for f in font_manager.fontManager.ttflist)


def _figure(width: float = 6.4, height: float = 2.8) -> tuple[Any, Any]:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(figsize=(width, height), dpi=100)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _png(figure: Any) -> bytes:
    from matplotlib import pyplot  # noqa: PLC0415

    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=100)
    pyplot.close(figure)
    return out.getvalue()


def _font(font: Path) -> Any:
    from matplotlib import font_manager  # noqa: PLC0415

    return font_manager.FontProperties(fname=str(font), size=9)


def bars(
    labels: list[str],
    series: list[tuple[str, list[float]]],
    title: str,
    font: Path,
    line: float | None = None,
) -> bytes:
    """Grouped vertical bars: one group per label, one bar per series; ``line``: a dashed
    reference line at that value (the target)."""
    figure, axes = _figure()
    if line is not None:
        axes.axhline(line, color=COLOURS[3], linestyle="--", linewidth=1)
    prop = _font(font)
    count = max(1, len(series))
    width = 0.8 / count
    for n, (name, values) in enumerate(series):
        positions = [i + (n - (count - 1) / 2) * width for i in range(len(labels))]
        axes.bar(positions, values, width, label=name, color=COLOURS[n % len(COLOURS)])
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, fontproperties=prop)
    axes.set_title(title, fontproperties=_font(font), loc="left")
    for label in axes.get_yticklabels():
        label.set_fontproperties(prop)
    if count > 1:
        axes.legend(prop=prop, frameon=False)
    return _png(figure)


def horizontal(labels: list[str], values: list[float], title: str, font: Path) -> bytes:
    """Horizontal bars, the largest on top (frequent problems)."""
    figure, axes = _figure(height=max(1.6, 0.32 * len(labels) + 0.8))
    prop = _font(font)
    axes.barh(list(range(len(labels)))[::-1], values, color=COLOURS[0])
    axes.set_yticks(list(range(len(labels)))[::-1])
    axes.set_yticklabels(labels, fontproperties=prop)
    axes.set_title(title, fontproperties=prop, loc="left")
    return _png(figure)
