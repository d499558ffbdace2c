"""How well an article answers a request: a score from 0 to 1 and the words that earned it. Pure.

Three coverages, each weighted by how rare a term is among the published articles (inverse
document frequency, so 打印机 counts and 无法 barely does):

- ``key``: how much of the article's title and keywords the request mentions, the strongest
  sign that both are about the same thing;
- ``symptoms``: how much of the described symptoms the request repeats;
- ``request``: how much of the request's vocabulary (the words any article knows) this
  article accounts for, so a long mail about something else does not match on one shared
  word.

A request that shares a single word with an article (会议室, and nothing else) gets half the
score: one word is a hint, not evidence.

The weights and the match threshold were tuned on bench/kb (bench/kb_match.py prints the
precision and recall they give); a match is ``score >= [kb] match_score``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

WEIGHTS = {"key": 0.5, "symptoms": 0.2, "request": 0.3}
SINGLE_WORD = 0.5
KEY_FIELDS = ("title", "keywords")
ALL_FIELDS = ("title", "keywords", "symptoms", "body")


def idf(docs: int, total: int) -> float:
    """Inverse document frequency, smoothed: a term in every article still counts a little."""
    return math.log(1 + total / max(docs, 1))


@dataclass(frozen=True)
class Scored:
    score: float
    matched: dict[str, list[str]]  # field -> the request's terms found there, rarest first
    parts: dict[str, float]


def score(
    request: Iterable[str], weights: Mapping[str, float], fields: Mapping[str, list[str]]
) -> Scored:
    """Score an article's ``fields`` (field -> its terms) against a request's terms;
    ``weights`` are the idf of every term the knowledge base knows."""
    asked = {t for t in request if t in weights}
    key = _terms(fields, KEY_FIELDS)
    symptoms = set(fields.get("symptoms", ()))
    known = key | symptoms | set(fields.get("body", ()))
    parts = {
        "key": _coverage(key & asked, key, weights),
        "symptoms": _coverage(symptoms & asked, symptoms, weights),
        "request": _coverage(asked & (key | symptoms), asked, weights),
    }
    total = sum(WEIGHTS[name] * value for name, value in parts.items())
    matched = {
        name: sorted(set(fields.get(name, ())) & asked, key=lambda t: (-weights[t], t))
        for name in ALL_FIELDS
    }
    matched = {name: found for name, found in matched.items() if found}
    if not asked & known:
        total = 0.0
    elif len(concepts(asked & (key | symptoms))) < 2:
        total *= SINGLE_WORD  # one shared word is a hint, not evidence
    return Scored(round(total, 4), matched, {k: round(v, 4) for k, v in parts.items()})


def concepts(found: set[str]) -> set[str]:
    """The distinct words among ``found``: 会议 and 议室 are parts of 会议室, one word."""
    return {t for t in found if not any(t != u and t in u for u in found)}


def _terms(fields: Mapping[str, list[str]], names: tuple[str, ...]) -> set[str]:
    return {t for name in names for t in fields.get(name, ())}


def _coverage(found: set[str], whole: set[str], weights: Mapping[str, float]) -> float:
    denominator = sum(weights.get(t, 0.0) for t in whole)
    if denominator <= 0:
        return 0.0
    return sum(weights.get(t, 0.0) for t in found) / denominator
