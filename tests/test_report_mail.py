"""The mailed report: every cid: has its image, the text part carries the HTML's figures, the
scheduler sends each period's report once (through the SMTP server, across restarts), a reader
sees it whole in Chromium, and a missing CJK font stops it with one clear line."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path

import matplotlib
import pytest

from mailflow import config as config_mod
from mailflow.daemon import open_services
from mailflow.store.database import transaction
from tests.conftest import ImapAccount, run_mailflow, write_config
from tests.report_data import seeds, store
from tests.servers import SmtpServer

NOW = "2026-12-01T10:00:00+08:00"
DESK = '[support]\naddress = "support@example.com"\nname = "IT 服务台"\n'


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = write_config(tmp_path, DESK)
    services = open_services(config_mod.load(path))
    with transaction(services.db):
        for seed in seeds():
            store(seed)
    services.db.close()
    return path


def report_mail(path: Path) -> EmailMessage:
    out = path.parent / "report.eml"
    result = run_mailflow(
        path, "report", "--period", "2026-11", "--format", "eml", "--out", str(out), "--now", NOW
    )
    assert result.returncode == 0, result.stderr
    message = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_every_cid_has_its_image_and_the_text_carries_the_figures(seeded: Path) -> None:
    message = report_mail(seeded)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    page, text = html_part.get_content(), text_part.get_content()
    images = {
        part["Content-ID"].strip("<>"): part.get_content()
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    cids = re.findall(r'src="cid:([^"]+)"', page)
    assert len(cids) == 5 and set(cids) == set(images)
    assert all(data.startswith(b"\x89PNG") and len(data) > 5000 for data in images.values())
    assert "http://" not in page and "https://" not in page and "<script" not in page
    figures = json.loads(
        run_mailflow(
            seeded, "report", "--period", "2026-11", "--format", "json", "--now", NOW
        ).stdout
    )
    received = figures["tickets"]["received"]
    assert f">{received}</td>" in page and f"| received | {received} |" in text
    for priority, row in figures["times"]["first_response"].items():
        if row["count"]:
            assert f"| {priority} | {row['count']} |" in text


def test_a_reader_sees_the_whole_report_in_chromium(seeded: Path, tmp_path: Path) -> None:
    """The HTML part, its cid: images inlined for the page, in headless Chromium: every image
    loads with a real size, no text overflows its table cell; the screenshot is kept."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: apt-get install chromium (.ci/run installs it)"
    message = report_mail(seeded)
    html_part = message.get_body(("html",))
    assert html_part is not None
    page = html_part.get_content()
    for part in message.walk():
        if part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_content()).decode()
            page = page.replace(
                f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}"
            )
    probe = """<script>window.addEventListener('load', () => {
      const images = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
      const over = [...document.querySelectorAll('td, th')].filter(
        c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.slice(0, 40));
      document.body.setAttribute('data-check', JSON.stringify({images, over}));
    });</script>"""
    target = tmp_path / "report.html"
    target.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=680,3000"]
    dom = subprocess.run(
        [*common, "--virtual-time-budget=5000", "--dump-dom", target.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    check = json.loads(re.search(r"data-check=\"([^\"]+)\"", dom).group(1).replace("&quot;", '"'))  # type: ignore[union-attr]
    assert len(check["images"]) == 5
    assert all(done and width > 300 and height > 100 for done, width, height in check["images"])
    assert check["over"] == []
    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", target.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000


def test_a_font_without_chinese_stops_the_report_with_one_line(seeded: Path) -> None:
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    seeded.write_text(seeded.read_text() + f'[reports]\nfont = "{dejavu}"\n')
    result = run_mailflow(seeded, "report", "--period", "2026-11", "--format", "html", "--now", NOW)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "has no Chinese characters" in result.stderr


def test_the_scheduler_sends_each_report_once(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Monday 2026-11-30 09:05: the weekly report of W48 and the monthly one of October are
    due; a restart sends nothing again; on 1 December at 09:05 the November report goes, and
    a daemon that was down until 11:00 on Monday 7 December still sends W49, once."""
    e2e_config.write_text(
        e2e_config.read_text()
        + '[reports]\nweekly_to = ["boss@example.com"]\n'
        + 'monthly_to = ["boss@example.com", "ops@example.com"]\n'
    )

    def subjects(after: int) -> list[str]:
        got = smtp_server.wait_for(after, timeout=5)
        return sorted(
            str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"])
            for m in got
        )

    assert (
        run_mailflow(e2e_config, "run", "--once", now="2026-11-30T09:05:00+08:00").returncode == 0
    )
    assert subjects(2) == ["技术支持分析报告 2026-10", "技术支持分析报告 2026-W48"]
    assert (
        run_mailflow(e2e_config, "run", "--once", now="2026-11-30T09:10:00+08:00").returncode == 0
    )
    assert (
        run_mailflow(e2e_config, "run", "--once", now="2026-12-01T09:05:00+08:00").returncode == 0
    )
    assert subjects(3)[0] == "技术支持分析报告 2026-10" and "技术支持分析报告 2026-11" in subjects(
        3
    )
    assert (
        run_mailflow(e2e_config, "run", "--once", now="2026-12-07T11:00:00+08:00").returncode == 0
    )
    assert (
        run_mailflow(e2e_config, "run", "--once", now="2026-12-07T11:05:00+08:00").returncode == 0
    )
    final = subjects(4)
    assert len(smtp_server.wait_for(5, timeout=2)) == 4
    assert (
        final.count("技术支持分析报告 2026-W49") == 1
        and final.count("技术支持分析报告 2026-11") == 1
    )
    [november] = [
        m
        for m in smtp_server.messages
        if email.message_from_bytes(m.data, policy=email.policy.default)["Subject"].endswith(
            "2026-11"
        )
    ]
    assert sorted(november.rcpt_tos) == ["boss@example.com", "ops@example.com"]
