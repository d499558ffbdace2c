"""`mailflow demo`: the whole support process on a sample desk, no servers, one command. Intake,
grading (an ERP login failure is high, an outage urgent), routing to groups and engineers, the
supervisor alert, an engineer's commands, resolution, confirmation, survey and rating, and a
silent ticket closing itself days later; then every ticket's timeline and where its mails are."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_mailflow


def test_demo_plays_the_support_process(tmp_path: Path) -> None:
    result = run_mailflow(None, "demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\ufffd" not in out and "problems:" not in out
    assert "four requests arrive (one by phone through the service desk): 4 mails handled" in out
    blocks = {b.split()[0]: b for b in re.split(r"\n(?=TS\d{11}  )", out) if b.startswith("TS")}
    erp, vpn, printer, outage = (blocks[n] for n in sorted(blocks))
    assert "high · 业务系统 · 系统运维组 · handler wang.wei@example.com · closed" in erp
    for step in ("status_changed", "first_response", "closed", "rated"):
        assert step in erp
    assert "rating=4 label=非常满意" in erp
    assert "mail → li.na@example.com: [" in erp  # the supervisor on duty, for a high ticket
    assert "medium · 网络 · 系统运维组 · handler zhang.qiang@example.com · assigned" in vpn
    assert "reason=no answer 3 days after resolution" in printer
    assert "Received: Printer on the 3rd floor" in printer  # English mail, English answer
    assert "urgent · 业务系统 · 系统运维组" in outage and "registered_for_caller" in outage
    assert "requester=chen.jing@example.cn" in outage and "phone=1381234****" in outage
    assert "mail → li.na@example.com: [" in outage
    paths = re.findall(r"^\s+(/\S+)$", out, re.MULTILINE)
    # The outage stays unresolved: its breach and second-level notices, one each.
    assert "sla_breach               to=['wang.wei@example.com', 'li.na@example.com']" in outage
    assert outage.count("严重超时（解决）") == 1
    assert len(paths) == 19 and all(Path(p).is_file() for p in paths)
    number = out.split("ticket show ")[1].split()[0]
    config = tmp_path / "demo" / "config.toml"
    shown = run_mailflow(config, "ticket", "show", number)
    assert "工单编号: " + number in shown.stdout
    # Running it again starts over in the same folder; a foreign folder is refused.
    again = run_mailflow(None, "demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert again.returncode == 0 and "4 mails handled" in again.stdout
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "important.txt").write_text("x")
    refused = run_mailflow(None, "demo", "--dir", str(tmp_path / "mine"), cwd=tmp_path)
    assert refused.returncode == 1 and "is not a demo folder" in refused.stderr
