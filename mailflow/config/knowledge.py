"""The ``[kb]`` section: matching requests to knowledge-base articles."""

from __future__ import annotations

from mailflow.config.model import KbConfig
from mailflow.config.reader import _Section

SEGMENTERS = ("both", "jieba", "bigram")


def _kb(s: _Section) -> KbConfig:
    kb = KbConfig(
        match_new_tickets=bool(s.get("match_new_tickets", bool, True)),
        offer_to_requester=bool(s.get("offer_to_requester", bool, False)),
        match_score=s.number("match_score", KbConfig.match_score, 0, 1),
        max_linked=s.integer("max_linked", 3, 0, 20),
        segmenter=s.choice("segmenter", SEGMENTERS, "both"),
    )
    s.finish()
    return kb
