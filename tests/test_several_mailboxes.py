"""One deployment, several desks: ``[[mailbox]]`` tables, each with its own address, name,
folder and group. A desk's tickets go to its group and every mail about them leaves from its
address and name, whichever mailbox a later reply lands in; mail from any desk address is our
own; the daemon waits on all of them with IDLE at once."""

from __future__ import annotations

import email
import email.header
import email.utils
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailflow.config import from_dict
from mailflow.errors import ConfigError
from tests.conftest import (
    ImapAccount,
    imap_keys,
    mailflow_env,
    new_account,
    run_mailflow,
    smtp_table,
    write_config,
)
from tests.helpers import PEOPLE, run_once, sql
from tests.mails import build
from tests.servers import Dovecot, SmtpServer

HR_PEOPLE = """
[[people]]
name = "赵敏"
email = "zhao.min@example.com"
role = "engineer"
groups = ["人事组"]
[[groups]]
name = "人事组"
supervisor = "li.na@example.com"
"""


def _mailbox(account: ImapAccount, extra: str) -> str:
    """A [[mailbox]] table for the desk at ``account``."""
    return f'[[mailbox]]\n{imap_keys(account)}address = "{account.user}"\n{extra}\n'


@pytest.fixture
def desks(
    tmp_path: Path, imap_account: ImapAccount, dovecot: Dovecot, smtp_server: SmtpServer
) -> tuple[Path, ImapAccount, ImapAccount]:
    """A config reading two mailboxes: the IT desk (category routing) and the HR desk (its
    own group); the IT one, the HR one."""
    hr = new_account(dovecot)
    config = write_config(
        tmp_path,
        f"""
        [support]
        address = "{imap_account.user}"
        name = "IT 服务台"
        ticket_prefix = "TS"
        """
        + smtp_table(smtp_server)
        + _mailbox(imap_account, 'name = "IT 服务台"')
        + _mailbox(hr, 'name = "人事服务台"\ngroup = "人事组"'),
    )
    config.write_text(config.read_text() + PEOPLE + HR_PEOPLE)
    return config, imap_account, hr


def _sender(message: object) -> tuple[str, str]:
    parsed = email.message_from_bytes(message.data)  # type: ignore[attr-defined]
    name, address = email.utils.parseaddr(parsed["From"])
    return str(email.header.make_header(email.header.decode_header(name))), address


def test_each_desk_routes_to_its_group_and_mails_from_its_own_address(
    desks: tuple[Path, ImapAccount, ImapAccount], smtp_server: SmtpServer
) -> None:
    config, it, hr = desks
    it.append(build("wang.fang@example.cn", it.user, "打印机坏了", "三楼打印机卡纸"))
    hr.append(build("liu.yang@example.cn", hr.user, "打印机坏了", "人事部打印机卡纸"))
    hr.append(build("chen.jing@example.cn", hr.user, "请假流程", "年假怎么申请？"))
    # A desk's own address writing to another desk is our own mail, not a request.
    hr.append(build(f"IT 服务台 <{it.user}>", hr.user, "转发", "x"))
    run_once(config)
    rows = sql(config, 'SELECT requester_email, mailbox, "group", number FROM ticket')
    by_requester = {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}
    assert by_requester == {
        "wang.fang@example.cn": (it.user, "硬件支持组", by_requester["wang.fang@example.cn"][2]),
        "liu.yang@example.cn": (hr.user, "人事组", by_requester["liu.yang@example.cn"][2]),
        "chen.jing@example.cn": (hr.user, "人事组", by_requester["chen.jing@example.cn"][2]),
    }
    sent = smtp_server.wait_for(6, timeout=10)  # three acknowledgements, three assignments
    senders = {m.rcpt_tos[0]: _sender(m) for m in sent}
    assert senders["wang.fang@example.cn"] == ("IT 服务台", it.user)
    assert senders["liu.yang@example.cn"] == ("人事服务台", hr.user)
    assert senders["zhao.min@example.com"] == ("人事服务台", hr.user)
    assert senders["zhou.jie@example.com"] == ("IT 服务台", it.user)

    # The HR engineer answers by writing to the IT mailbox: the ticket is found by its tag,
    # and the requester still hears from the HR desk.
    number = by_requester["liu.yang@example.cn"][2]
    it.append(build("赵敏 <zhao.min@example.com>", it.user, f"Re: [{number}] 打印机", "已修好。"))
    run_once(config)
    [relayed] = [m for m in smtp_server.wait_for(7, timeout=10)[6:]]
    assert relayed.rcpt_tos == ["liu.yang@example.cn"]
    assert _sender(relayed) == ("人事服务台", hr.user)


def test_the_daemon_idles_on_every_mailbox(
    desks: tuple[Path, ImapAccount, ImapAccount], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """With IDLE on both mailboxes, mail to either is acknowledged within a second or two."""
    config, it, hr = desks
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "-c", str(config), "run"],
        stderr=log,
        env=mailflow_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while "mailflow running" not in (tmp_path / "daemon.log").read_text():
            assert time.monotonic() < deadline and daemon.poll() is None
            time.sleep(0.1)
        # A first mail, so that the first pass's start-up work (schema, jobs) is behind us.
        it.append(build("first@example.cn", it.user, "问题", "坏了"))
        smtp_server.wait_for(2, timeout=60)
        took = []
        for n, account in enumerate((hr, it, hr)):
            started = time.monotonic()
            account.append(build(f"user{n}@example.cn", account.user, f"问题 {n}", "坏了"))
            smtp_server.wait_for(2 * (n + 2), timeout=30)
            took.append(time.monotonic() - started)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        log.close()
    print("arrival to acknowledgement and assignment:", [f"{t:.2f} s" for t in took])
    assert max(took) < 5, took  # polling would take up to 30 s


@pytest.mark.parametrize(
    ("mailboxes", "key", "message"),
    [
        (
            [{"path": "a"}, {"path": "b"}],
            "mailbox[0].address",
            "is required when there are several",
        ),
        (
            [{"path": "a", "address": "x@example.com"}, {"path": "b", "address": "X@example.com"}],
            "mailbox[1].address",
            "another's too",
        ),
        (
            [{"path": "a", "address": "a@example.com"}, {"path": "a", "address": "b@example.com"}],
            "mailbox[1]",
            "as another does",
        ),
        ([{"path": "a", "address": "a@example.com", "group": "财务组"}], "mailbox.group", "财务组"),
        ([], "mailbox", "[[mailbox]]"),
    ],
)
def test_bad_mailbox_tables_name_the_key(
    tmp_path: Path, mailboxes: list[dict[str, str]], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict({"mailbox": mailboxes}, tmp_path)
    assert caught.value.key == key and message in str(caught.value), str(caught.value)


def test_one_mailbox_table_keeps_the_support_address(tmp_path: Path) -> None:
    """``[mailbox]`` (and a single ``[[mailbox]]``) serve the ``[support]`` address."""
    support = {"address": "help@example.com", "name": "服务台"}
    for table in ({"path": "in"}, [{"path": "in"}]):
        config = from_dict({"support": support, "mailbox": table}, tmp_path)
        assert [(d.address, d.name) for d in config.desks] == [("help@example.com", "服务台")]
        assert config.desk("") == ("服务台", "help@example.com")


def test_ingest_names_the_desk_it_delivers_for(
    desks: tuple[Path, ImapAccount, ImapAccount],
) -> None:
    """An MTA piping to `ingest --mailbox ADDRESS` files the mail at that desk; an address no
    mailbox has is a configuration error naming it (exit 75, as every ingest error but
    unusable input: the MTA keeps the mail until the config is fixed)."""
    config, _, hr = desks
    raw = build("zhang.li@example.cn", hr.user, "工资条", "上月工资条看不到")
    result = run_mailflow(config, "ingest", "--mailbox", hr.user.upper(), "--no-send", stdin=raw)
    assert result.returncode == 0 and result.stdout.startswith("created"), result.stderr
    [(mailbox, group)] = sql(config, 'SELECT mailbox, "group" FROM ticket')
    assert (mailbox, group) == (hr.user, "人事组")
    wrong = run_mailflow(config, "ingest", "--mailbox", "nobody@example.com", stdin=raw)
    assert wrong.returncode == 75 and "nobody@example.com" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_check_tries_every_mailbox(desks: tuple[Path, ImapAccount, ImapAccount]) -> None:
    config, it, hr = desks
    result = run_mailflow(config, "check")
    assert f"mailbox {it.user}" in result.stdout and f"mailbox {hr.user}" in result.stdout
