"""The knowledge base on a real PostgreSQL (a private cluster): the same terms in a GIN
index, the same scores, in a UTF-8 and in a C-locale database alike (the terms are cut by
mailflow, so PostgreSQL's locale never has to know Chinese)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailflow.config.model import KbConfig
from mailflow.knowledge import folder, library
from mailflow.knowledge.markdown import ArticleText
from mailflow.knowledge.search import search
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database, transaction
from mailflow.store.models import database_proxy
from mailflow.store.schema import init_schema
from tests.conftest import run_mailflow
from tests.postgres import Postgres

ARTICLES = Path(__file__).resolve().parent.parent / "bench" / "kb" / "articles"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
KB = KbConfig()


@pytest.mark.parametrize("ctype", ["C.UTF-8", "C"])
def test_search_import_and_export_on_postgres(
    postgres: Postgres, tmp_path: Path, ctype: str
) -> None:
    name = "kb_" + ctype.replace(".", "_").replace("-", "").lower()
    db = open_database(postgres.create_database(name, ctype))
    try:
        init_schema(db)
        store = BlobStore(tmp_path / "store")
        result = folder.import_folder(ARTICLES, db, NOW, KB.segmenter, store)
        assert (result.added, result.refused) == (34, [])
        assert [h.id for h in search("打印几卡纸了，打不出来", KB) if h.match] == [13]
        assert search("Printer offline, jobs stuck in the queue", KB)[0].id == 14
        assert {1, 2} <= {h.id for h in search("登录", KB, limit=10)}
        assert search("🙂 " + "x" * 10_000, KB) == []
        # An article without an id after ones imported with theirs: the sequence moved on.
        with transaction(db):
            added, _ = library.save(
                ArticleText(
                    "Wi-Fi 密码每月更换", "网络", ["wifi", "密码"], "连不上无线网", "1. 查看新密码"
                ),
                NOW,
                KB.segmenter,
                store,
            )
        assert added.id == 35
        folder.export_folder(tmp_path / "a", dt.UTC, store)
        assert len(list((tmp_path / "a").glob("*.md"))) == 35
    finally:
        db.close()
        database_proxy.initialize(None)


def test_check_refuses_a_database_that_cannot_store_chinese(
    postgres: Postgres, tmp_path: Path
) -> None:
    """SQL_ASCII cannot hold every mail's text: `check` names the key and the fix. A C-locale
    UTF8 database is fine and said to be."""
    import psycopg2

    con = psycopg2.connect(postgres.url("postgres"))
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(
            "CREATE DATABASE ascii_db TEMPLATE template0 ENCODING 'SQL_ASCII' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    con.close()
    for name, url in (
        ("ascii", postgres.url("ascii_db")),
        ("c", postgres.create_database("c_db", "C")),
    ):
        config = tmp_path / f"{name}.toml"
        config.write_text(f'[database]\nurl = "{url}"\n[storage]\npath = "{tmp_path}/s"\n')
        result = run_mailflow(config, "check")
        if name == "ascii":
            assert result.returncode == 1
            assert "database.url: the database's encoding is SQL_ASCII" in result.stdout
        else:
            assert "UTF8, LC_CTYPE C)" in result.stdout, result.stdout
