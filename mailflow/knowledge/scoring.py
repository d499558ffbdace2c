"""How well an article answers a request: a score from 0 to 1 and the words that earned it. Pure.

Three coverages, each weighted by how rare a term is among the published articles (inverse
document frequency, so 打印机 counts and 无法 barely does):

- ``key``: how much of the article's title, or of its keywords, the request mentions (the
  better of the two: both name the topic, and an English request to a Chinese article finds
  only its English keywords), the strongest sign that both are about the same thing.
  Keywords count as phrases (连接超时 is one keyword however many terms it cuts into), so a
  long keyword list does not drown the two that matter;
- ``symptoms``: how much of the described symptoms the request repeats;
- ``request``: how much of the request's vocabulary (the words any article knows) this
  article accounts for, words of its steps at half weight, so a long mail about something
  else does not match on one shared word.

A request that shares a single word with an article's title, keywords and symptoms (会议室,
and nothing else) gets half the score: one word is a hint, not evidence.

The weights and the match threshold were set on bench/kb's tuning set (bench/kb_match.py
prints what they give there and on a held-out set); a match is ``score >= [kb] match_score``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

WEIGHTS = {"key": 0.5, "symptoms": 0.2, "request": 0.3}
BODY = 0.5  # a word of the steps is half the evidence of a word of the symptoms
SINGLE_WORD = 0.5
FIELDS = ("title", "keywords", "symptoms", "body")

Fields = Mapping[str, Sequence[object]]  # field -> terms; "phrases": one term list per keyword


def idf(docs: int, total: int) -> float:
    """Inverse document frequency, smoothed: a term in every article still counts a little."""
    return math.log(1 + total / max(docs, 1))


@dataclass(frozen=True)
class Scored:
    score: float
    matched: dict[str, list[str]]  # field -> the request's terms found there, rarest first
    parts: dict[str, float]


def score(request: Iterable[str], weights: Mapping[str, float], fields: Fields) -> Scored:
    """Score an article's ``fields`` against a request's terms; ``weights`` are the idf of
    every term the knowledge base knows."""
    asked = {t for t in request if t in weights}
    title, symptoms, body = (_set(fields, name) for name in ("title", "symptoms", "body"))
    strong = title | _set(fields, "keywords") | symptoms
    phrases = [{str(t) for t in p} for p in fields.get("phrases", ()) if p]  # type: ignore[attr-defined]
    parts = {
        "key": max(_coverage(title & asked, title, weights), _phrases(phrases, asked, weights)),
        "symptoms": _coverage(symptoms & asked, symptoms, weights),
        "request": _request(asked, strong, body, weights),
    }
    total = sum(WEIGHTS[name] * value for name, value in parts.items())
    if not asked & (strong | body):
        total = 0.0
    elif len(concepts(asked & strong)) < 2:
        total *= SINGLE_WORD  # one shared word is a hint, not evidence
    matched = {
        name: sorted(_set(fields, name) & asked, key=lambda t: (-weights[t], t)) for name in FIELDS
    }
    return Scored(
        round(total, 4),
        {name: found for name, found in matched.items() if found},
        {k: round(v, 4) for k, v in parts.items()},
    )


def concepts(found: set[str]) -> set[str]:
    """The distinct words among ``found``: 会议 and 议室 are parts of 会议室, one word."""
    return {t for t in found if not any(t != u and t in u for u in found)}


def _set(fields: Fields, name: str) -> set[str]:
    return {str(t) for t in fields.get(name, ())}


def _phrases(phrases: list[set[str]], asked: set[str], weights: Mapping[str, float]) -> float:
    """Keywords found, each by the share of it found, weighted by its rarest term."""
    weight = [max((weights.get(t, 0.0) for t in p), default=0.0) for p in phrases]
    if not sum(weight):
        return 0.0
    found = sum(w * _coverage(p & asked, p, weights) for p, w in zip(phrases, weight, strict=True))
    return found / sum(weight)


def _request(
    asked: set[str], strong: set[str], body: set[str], weights: Mapping[str, float]
) -> float:
    whole = sum(weights[t] for t in asked)
    if not whole:
        return 0.0
    explained = sum(weights[t] for t in asked & strong)
    explained += BODY * sum(weights[t] for t in (asked & body) - strong)
    return explained / whole


def _coverage(found: set[str], whole: set[str], weights: Mapping[str, float]) -> float:
    denominator = sum(weights.get(t, 0.0) for t in whole)
    if denominator <= 0:
        return 0.0
    return sum(weights.get(t, 0.0) for t in found) / denominator
