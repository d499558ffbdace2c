"""Knowledge-base search at scale: 50,000 published articles, intake's matching per ticket.

    .venv/bin/python bench/kb_scale.py [--articles 50000] [--segmenter both]

Builds a fresh SQLite knowledge base of the 34 real articles of bench/kb plus synthetic ones
(titles, keywords, symptoms and steps drawn from jieba's dictionary by word frequency, so
common words are common and the index has a realistic vocabulary), indexes it with
``mailflow kb reindex``'s code, then runs every labelled request of bench/kb/labelled.py
through what intake does for a new ticket: ``search`` and, for the matches, the link rows,
in a transaction (rolled back). Prints median and p95 per ticket, the same against a floor
measured in the same run (one FTS5 MATCH of a single common term through raw sqlite3 on the
same file), and whether the labelled requests still find their article among 50,000.

Target (issue 11): search and intake matching add ≤ 5 ms per ticket on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench" / "kb"))

from labelled import REQUESTS  # noqa: E402

from mailflow.config.model import KbConfig  # noqa: E402
from mailflow.knowledge.folder import import_folder  # noqa: E402
from mailflow.knowledge.index import rebuild  # noqa: E402
from mailflow.knowledge.library import link  # noqa: E402
from mailflow.knowledge.search import search  # noqa: E402
from mailflow.store.articles import Article  # noqa: E402
from mailflow.store.blobs import BlobStore  # noqa: E402
from mailflow.store.database import open_database, transaction  # noqa: E402
from mailflow.store.models import utc  # noqa: E402
from mailflow.store.schema import init_schema  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
CATEGORIES = ("账号", "邮件", "网络", "外设", "硬件", "办公软件", "业务系统", "安全")


def vocabulary() -> tuple[list[str], list[int]]:
    """Chinese words of two to four characters with their corpus frequency (jieba's dict)."""
    import jieba

    words, weights = [], []
    for line in jieba.dt.get_dict_file().read().decode("utf-8").splitlines():
        word, freq, _ = [*line.split(" "), "", ""][:3]
        if 2 <= len(word) <= 4 and "\u4e00" <= word[0] <= "\u9fff" and int(freq or 0) >= 20:
            words.append(word)
            weights.append(int(freq))
    return words, weights


def synthetic(count: int, rng: random.Random) -> list[dict[str, object]]:
    words, weights = vocabulary()
    english = [
        "outlook",
        "vpn",
        "wifi",
        "printer",
        "sap",
        "erp",
        "crm",
        "teams",
        "excel",
        "word",
        "windows",
        "mac",
        "iphone",
    ]
    now = utc(NOW)
    rows = []
    for _ in range(count):
        pick = rng.choices(words, weights, k=90)
        rows.append(
            {
                "status": "published",
                "category": rng.choice(CATEGORIES),
                "title": "".join(pick[:3]) + " " + rng.choice(english),
                "keywords": pick[3:7],
                "symptoms": "，".join("".join(pick[i : i + 3]) for i in range(7, 40, 3)),
                "cause": "".join(pick[40:50]),
                "steps": "\n".join(
                    f"{n}. " + "".join(pick[50 + n * 10 : 60 + n * 10]) for n in range(4)
                ),
                "author": "bench@example.com",
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def floor(path: Path, term: str) -> float:
    """The cheapest query on the same index: one term, raw sqlite3, median of 200."""
    con = sqlite3.connect(path)
    runs = []
    for _ in range(200):
        start = time.perf_counter()
        con.execute(
            "SELECT rowid FROM article_fts WHERE article_fts MATCH ? LIMIT 12", (f'"{term}"',)
        ).fetchall()
        runs.append(time.perf_counter() - start)
    con.close()
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--segmenter", default="both", choices=("both", "jieba", "bigram"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, help="keep the database here (reused when it exists)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    kb = KbConfig(segmenter=args.segmenter)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "kb.db"
        reused = path.exists()
        db = open_database(f"sqlite:///{path}")
        init_schema(db)
        if not reused:
            build(db, path, Path(tmp), args.articles, kb)
        measure(db, path, kb, args.repeat)
        db.close()


def build(db: Any, path: Path, tmp: Path, count: int, kb: KbConfig) -> None:
    articles = REPO / "bench" / "kb" / "articles"
    import_folder(articles, db, NOW, kb.segmenter, BlobStore(tmp / "s"))
    started = time.perf_counter()
    rows = synthetic(count - 34, random.Random(11))
    with transaction(db):
        for start in range(0, len(rows), 500):
            Article.insert_many(rows[start : start + 500]).execute()
    with transaction(db):
        indexed = rebuild(kb.segmenter)
    took = time.perf_counter() - started
    size = path.stat().st_size / 1e6
    print(f"{indexed} published articles indexed in {took:.0f} s ({size:.0f} MB database)")


def measure(db: Any, path: Path, kb: KbConfig, repeat: int) -> None:
    indexed = Article.select().where(Article.indexed).count()
    search("预热", kb)  # jieba's dictionary loads once, outside the timings
    times, found = [], 0
    for _ in range(repeat):
        for text, expected in REQUESTS:
            start = time.perf_counter()
            with db.atomic() as txn:
                hits = [h for h in search(text, kb, limit=kb.max_linked) if h.match]
                for hit in hits:
                    link(hit.id, "TS20261201001", "linked", NOW, hit.score)
                txn.rollback()
            times.append(time.perf_counter() - start)
            found += bool(expected and hits and hits[0].id == expected)
    base = floor(path, "打印")
    median = statistics.median(times)
    p95 = sorted(times)[int(len(times) * 0.95)]
    cold = statistics.median(times[: len(REQUESTS)])
    positives = sum(1 for _, e in REQUESTS if e) * repeat
    print(
        "| articles | per ticket, median | p95 | first pass (cold caches), median "
        "| floor (1-term MATCH) | median / floor | top-1 still right |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {indexed:,} | {median * 1000:.2f} ms | {p95 * 1000:.2f} ms | {cold * 1000:.2f} ms | "
        f"{base * 1000:.3f} ms | {median / base:.0f} | {found / positives:.3f} |"
    )


if __name__ == "__main__":
    main()
