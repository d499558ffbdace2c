"""The knowledge base without mail: terms, search and its ranking for Chinese and English,
odd search text, Markdown files in and out (byte for byte), and refused files."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import peewee as pw
import pytest

from mailflow.config.model import KbConfig
from mailflow.knowledge import folder
from mailflow.knowledge.markdown import FileError, parse
from mailflow.knowledge.scoring import concepts
from mailflow.knowledge.search import search
from mailflow.knowledge.terms import terms
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database
from mailflow.store.schema import init_schema
from tests.conftest import run_mailflow

ARTICLES = Path(__file__).resolve().parent.parent / "bench" / "kb" / "articles"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
TZ = ZoneInfo("Asia/Shanghai")
KB = KbConfig()


@pytest.fixture
def kb_db(tmp_path: Path) -> Iterator[tuple[pw.Database, BlobStore]]:
    db = open_database(f"sqlite:///{tmp_path}/kb.db")
    init_schema(db)
    store = BlobStore(tmp_path / "store")
    result = folder.import_folder(ARTICLES, db, NOW, KB.segmenter, store)
    assert (result.added, result.updated, result.refused) == (34, 0, [])
    yield db, store
    db.close()


def top(text: str) -> int | None:
    hits = search(text, KB)
    return hits[0].id if hits and hits[0].match else None


def test_terms_cut_chinese_without_spaces_and_fold_typos() -> None:
    """Chinese runs become words and character pairs; typos requesters write are folded."""
    found = terms("电脑登陆不了，打印几卡纸")
    assert {"电脑", "登录", "打印", "打印机", "卡纸"} <= set(found)
    assert "登陆" not in found
    assert terms("Outlook keeps PROMPTING for passwords: error 0x80070005, 809") == [
        "outlook",
        "keep",
        "prompt",
        "password",
        "error",
        "0x80070005",
        "809",
    ]
    assert concepts({"会议", "议室", "会议室", "投影仪"}) == {"会议室", "投影仪"}


def test_chinese_and_english_requests_find_their_article(kb_db: object) -> None:
    assert top("电脑登陆不了\n开机提示我的密码已过期，必须更改") == 1
    assert top("Printer offline: cannot print, jobs stuck in the queue") == 14
    assert top("outlook一直弹出输入密码的窗口，邮件发不出去") == 4
    assert top("VPN 连接一直报错 809") == 9
    assert top("请问食堂几点开门") is None
    assert top("Parking permit for the garage") is None


def test_two_character_words_are_found(kb_db: object) -> None:
    """登录 and 打印 alone (two CJK characters: too short for a trigram index) still find the
    articles that use them, ranked but not matched on one word."""
    for word, expected in (("登录", {1, 2}), ("打印", {13, 14, 15})):
        hits = search(word, KB, limit=10)
        assert expected <= {h.id for h in hits}, word
        assert all(any(word in found for found in h.why.values()) for h in hits)
        assert not any(h.match for h in hits)


def test_ranking_puts_the_closer_article_first(kb_db: object) -> None:
    hits = search("打印机脱机，打印队列里的任务不动", KB)
    assert [h.id for h in hits[:2]] == [14, 13] or hits[0].id == 14
    assert hits[0].score > hits[1].score
    assert "title" in hits[0].why and "脱机" in hits[0].why["title"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "🙂🙂🙂",
        "مرحبا، لا أستطيع تسجيل الدخول",
        "登录" * 5000,
        'AND OR NOT NEAR( "unterminated * ^col: {a b}',
        "\x00\x1b[31m\u202e\ufeff",
        "x" * 10_000,
    ],
)
def test_any_search_text_gives_a_result_or_none(kb_db: object, text: str) -> None:
    assert isinstance(search(text, KB), list)


def test_export_import_export_is_byte_for_byte(
    kb_db: tuple[pw.Database, BlobStore], tmp_path: Path
) -> None:
    """Export, import into another database, export again: the same bytes, files included."""
    _, store = kb_db
    first = tmp_path / "first"
    attached = tmp_path / "fix.md"
    attached.write_text(
        (ARTICLES / "09.md")
        .read_text(encoding="utf-8")
        .replace(
            "author: kb@example.com\n",
            "author: kb@example.com\nattachments:\n- files/vpn.png\n",
        ),
        encoding="utf-8",
    )
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "vpn.png").write_bytes(b"\x89PNG fake")
    assert folder.import_folder(tmp_path, kb_db[0], NOW, KB.segmenter, store).updated == 1
    assert folder.export_folder(first, TZ, store) == 34
    other = open_database(f"sqlite:///{tmp_path}/other.db")
    init_schema(other)
    result = folder.import_folder(first, other, NOW, KB.segmenter, BlobStore(tmp_path / "s2"))
    assert (result.added, result.refused) == (34, [])
    second = tmp_path / "second"
    folder.export_folder(second, TZ, BlobStore(tmp_path / "s2"))
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert Path("files/0009/vpn.png") in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other.close()


def test_broken_files_are_refused_with_name_and_line(tmp_path: Path) -> None:
    """A missing title or broken YAML refuses that file (named, with its line); the rest of the
    folder is imported; the CLI prints the three counts."""
    source = tmp_path / "faq"
    shutil.copytree(ARTICLES, source)
    (source / "broken.md").write_text("---\ntitle: x\nkeywords: [a, b\n---\n\nsteps\n")
    (source / "untitled.md").write_text(
        "---\ncategory: 网络\nkeywords: [vpn]\nsymptoms: s\n---\n\nsteps\n"
    )
    with pytest.raises(FileError) as missing:
        parse((source / "untitled.md").read_text())
    assert missing.value.line == 2 and "'title'" in str(missing.value)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path}/store"\n[database]\nurl = "sqlite:///{tmp_path}/c.db"\n'
    )
    result = run_mailflow(config, "kb", "import", str(source))
    assert result.returncode == 65
    assert "added 34, updated 0, refused 2" in result.stdout
    assert "broken.md:4: front matter is not valid YAML" in result.stderr
    assert "untitled.md:2: front matter has no 'title'" in result.stderr
    again = run_mailflow(config, "kb", "import", str(ARTICLES))
    assert "added 0, updated 34, refused 0" in again.stdout
    found = json.loads(run_mailflow(config, "kb", "search", "--json", "打印机卡纸了").stdout)
    assert found[0]["id"] == 13 and found[0]["match"] is True
    assert {"id", "title", "score", "match"} <= set(found[0])
    assert all(h["match"] == (h["score"] >= KB.match_score) for h in found)


def test_articles_managed_from_a_shell(tmp_path: Path) -> None:
    """add, edit, list, show, retire: each visible in search the way intake sees it."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path}/store"\n[database]\nurl = "sqlite:///{tmp_path}/c.db"\n'
    )

    def kb(*args: str) -> str:
        result = run_mailflow(config, "kb", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    added = kb(
        "add",
        "--title",
        "Wi-Fi 密码每月更换",
        "--category",
        "网络",
        "--keywords",
        "wifi，密码, 无线",
        "--symptoms",
        "月初连不上公司无线网络，提示密码错误",
        "--steps",
        "1. 在内网门户查看本月 Wi-Fi 密码。\n2. 忘记网络后重新连接。",
    )
    assert added.startswith("KB-1 added (published)")
    assert json.loads(kb("search", "--json", "公司无线网连不上，提示密码错误"))[0]["id"] == 1
    kb("edit", "1", "--title", "公司 Wi-Fi 密码每月更换")
    shown = json.loads(kb("show", "1", "--json"))
    assert shown["title"] == "公司 Wi-Fi 密码每月更换" and shown["keywords"] == [
        "wifi",
        "密码",
        "无线",
    ]
    assert "KB-1" in kb("list") and json.loads(kb("list", "--json"))[0]["status"] == "published"
    kb("edit", "1", "--status", "draft")  # --status among the options is obeyed
    assert json.loads(kb("show", "1", "--json"))["status"] == "draft"
    kb("edit", "1", "--status", "published")
    kb("retire", "1")
    assert json.loads(kb("search", "--json", "公司无线网连不上，提示密码错误")) == []
    missing = run_mailflow(config, "kb", "add", "--title", "x")
    assert missing.returncode == 65 and "--category" in missing.stderr
    assert "Traceback" not in missing.stderr
    page = tmp_path / "vpn.md"  # a file with a file of its own, added without an id
    original = (ARTICLES / "09.md").read_text(encoding="utf-8").replace("id: 9\n", "")
    listed = "author: kb@example.com\nattachments:\n- shot.png\n"
    page.write_text(original.replace("author: kb@example.com\n", listed), encoding="utf-8")
    (tmp_path / "shot.png").write_bytes(b"\x89PNG")
    assert kb("add", "--file", str(page)).startswith("KB-2 added (published)")
    assert json.loads(kb("show", "2", "--json"))["files"] == ["shot.png"]
    unknown = run_mailflow(config, "kb", "show", "99")
    assert unknown.returncode == 65 and "no article 99" in unknown.stderr
