"""Templates: built-ins found when installed, operator overrides file by file, the tag rule."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
from pathlib import Path

from mailflow.delivery.mailing import sample_ticket
from mailflow.delivery.rendering import Renderer, duration
from tests.conftest import REPO, run_mailflow, write_config
from tests.helpers import deliver
from tests.mails import build

NOW = dt.datetime(2023, 10, 25, 1, 15, 30, tzinfo=dt.UTC)


def sample(number: str = "TS20231025001") -> dict[str, object]:
    ticket = {
        **sample_ticket(number, NOW),
        "subject": "ERP 登录超时",
        "priority": "urgent",
        "requester_name": "王芳",
        "requester_email": "w@example.cn",
        "respond_by": NOW + dt.timedelta(minutes=15),
    }
    return {
        "ticket": ticket,
        "tag": f"[{number}]",
        "support": {"name": "IT 服务台", "address": "support@example.com"},
        "refused": [],
        "original": "",
        "files": [],
        "limits": {"each_mb": 20, "total_mb": 50, "count": 50},
    }


def test_acknowledgement_renders_in_both_languages() -> None:
    from zoneinfo import ZoneInfo

    renderer = Renderer(None, ZoneInfo("Asia/Shanghai"))
    zh = renderer.render("acknowledgement", "zh_CN", sample())
    assert zh.subject == "[TS20231025001] 已受理：ERP 登录超时"
    assert "提交时间：2023-10-25 09:15:30" in zh.text  # shown in the support time zone
    assert "问题级别：紧急" in zh.text and "15 分钟内" in zh.text
    assert "<strong>[TS20231025001]</strong>" in zh.html
    en = renderer.render("acknowledgement", "en", sample())
    assert en.subject == "[TS20231025001] Received: ERP 登录超时"
    assert "Priority:          Urgent" in en.text and "within 15 min" in en.text


def test_html_is_escaped() -> None:
    """A subject with markup is escaped in the HTML part."""
    from zoneinfo import ZoneInfo

    context = sample()
    context["ticket"]["subject"] = "<script>alert(1)</script>"  # type: ignore[index]
    html = Renderer(None, ZoneInfo("UTC")).render("acknowledgement", "en", context).html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_duration_wording() -> None:
    assert duration(15, "zh_CN") == "15 分钟"
    assert duration(90, "en") == "1 h 30 min"
    assert duration(1440, "zh_CN") == "1 天"


def test_operator_override_replaces_one_file(tmp_path: Path) -> None:
    """An operator's template folder overrides one file; the rest stay built in."""
    overrides = tmp_path / "my-templates" / "zh_CN"
    overrides.mkdir(parents=True)
    (overrides / "acknowledgement.txt.j2").write_text(
        "工单 {{ ticket.number }} 已收到。——{{ support.name }}\n", encoding="utf-8"
    )
    config = write_config(tmp_path, '[templates]\npath = "my-templates"\n')
    deliver(
        tmp_path / "var/maildir",
        "m1",
        build("a@example.cn", "s@example.com", "打印机坏了", "打印机卡纸"),
    )
    result = run_mailflow(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    [sent] = (tmp_path / "var/sent/new").iterdir()
    from mailflow.mail.parsing import parse

    mail = parse(sent.read_bytes())
    assert mail.text.startswith("工单 TS") and "已收到。——IT Support" in mail.text
    assert "已受理" in mail.subject  # the subject template was not overridden


def test_override_that_drops_the_tag_is_refused(tmp_path: Path) -> None:
    """An override whose subject drops the ticket tag stops mailflow at start (exit 78)."""
    overrides = tmp_path / "tpl" / "en"
    overrides.mkdir(parents=True)
    (overrides / "acknowledgement.subject.j2").write_text("We got your mail\n")
    config = write_config(tmp_path, '[templates]\npath = "tpl"\n')
    result = run_mailflow(config, "run", "--once")
    assert result.returncode == 78  # a template is configuration
    assert "en/acknowledgement.subject.j2 must keep the ticket tag" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_mailflow(config, "check")
    assert "templates: FAILED" in result.stdout


def test_built_wheel_carries_templates_and_finds_them(tmp_path: Path) -> None:
    """A non-editable install (the wheel) finds its built-in templates without the repo."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("mailflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mailflow/templates/zh_CN/acknowledgement.subject.j2" in names
    assert "mailflow/templates/en/acknowledgement.html.j2" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import mailflow.delivery.rendering as n; p = n.builtin_templates(); print(p); "
        "assert (p / 'zh_CN' / 'acknowledgement.txt.j2').is_file()"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site)},
    )
    assert out.stdout.strip() == str(site / "mailflow" / "templates")


HOSTILE = '"><img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a><x-evil onclick=1>'
# Values templates compare or look up: they are checked on the way in, never free text.
STRUCTURAL = {"number", "priority", "status", "channel", "reason_code", "lang"}


def _hostile(value: object, key: str = "") -> object:
    if key in STRUCTURAL:
        return value
    if isinstance(value, str):
        return HOSTILE
    if isinstance(value, dict):
        return {k: _hostile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v) for v in value] or [HOSTILE]
    return value


def test_every_template_escapes_hostile_values_in_every_field() -> None:
    """Every kind, both languages: each string a template can show (ticket fields, names,
    reply, comment, errors, files, refused files) holds markup; no HTML part may carry it."""
    from zoneinfo import ZoneInfo

    from mailflow.config import from_dict
    from mailflow.delivery.mailing import base_context
    from mailflow.delivery.rendering import KINDS, PRIORITY_LABELS
    from tests.hostile import markup_in

    config = from_dict({}, Path("/nonexistent"))
    context = base_context(config, sample_ticket("TS20231025001", NOW))
    context = {
        k: (_hostile(v, k) if k not in ("links", "ratings") else v) for k, v in context.items()
    }
    context["refused"] = [{"filename": HOSTILE, "size_mb": 1.0, "reason": "too_large"}]
    article = {"id": 7, "title": HOSTILE, "steps": HOSTILE, "score": 0.5, "category": HOSTILE}
    context["offered"] = context["known"] = [article]  # knowledge-base text is mail text too
    context["ticket"]["category"] = HOSTILE  # type: ignore[index]
    context["ticket"]["handler_name"] = HOSTILE  # type: ignore[index]
    renderer = Renderer(None, ZoneInfo("Asia/Shanghai"))
    checked = 0
    for language in PRIORITY_LABELS:
        for kind in KINDS:
            rendered = renderer.render(kind, language, context)
            assert not markup_in(rendered.html), (language, kind, markup_in(rendered.html))
            assert "\n" not in rendered.subject
            checked += 1
    assert checked == 2 * len(KINDS)
