"""`mailflow demo`: a first look with no servers."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_mailflow


def test_demo_creates_tickets_and_acknowledgements(tmp_path: Path) -> None:
    result = run_mailflow(None, "demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "seeded 4 mails, handled 4, sent 3" in out
    assert out.count("--- Subject: [TS") == 3
    assert "ERP系统登录提示数据库连接超时  (2 inbound mails)" in out
    assert "Received: Printer on the 3rd floor" in out  # English mail, English answer
    assert "\ufffd" not in out
    number = out.split("ticket show ")[1].split()[0]
    shown = run_mailflow(tmp_path / "demo" / "config.toml", "ticket", "show", number)
    assert "工单编号: " + number in shown.stdout
    assert (
        "ORA-12170"
        in run_mailflow(
            tmp_path / "demo" / "config.toml", "ticket", "show", number, "--json"
        ).stdout
    )
    # Running it again starts over in the same folder; a foreign folder is refused.
    again = run_mailflow(None, "demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert again.returncode == 0 and "handled 4" in again.stdout
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "important.txt").write_text("x")
    refused = run_mailflow(None, "demo", "--dir", str(tmp_path / "mine"), cwd=tmp_path)
    assert refused.returncode == 1 and "is not a demo folder" in refused.stderr
