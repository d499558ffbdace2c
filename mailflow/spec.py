"""The spec's fixed vocabularies that every layer speaks: the four satisfaction levels (step 5)."""

from __future__ import annotations

RATINGS = {4: "非常满意", 3: "满意", 2: "一般", 1: "不满意"}
RATINGS_EN = {4: "very satisfied", 3: "satisfied", 2: "neutral", 1: "dissatisfied"}
