"""Routing and assignment: group by category and priority, engineer by strategy, supervisor
on duty for urgent and high tickets, handler names masked for requesters."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest

from mailflow.config import Duty, Group, Person, from_dict
from mailflow.delivery.masking import mask_name
from mailflow.errors import ConfigError
from mailflow.mail.parsing import parse
from mailflow.process.choice import on_duty, pick_engineer, route_group
from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import PEOPLE, run_once, show, tickets, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

OPS = Group("系统运维组", "li.na@example.com", ("业务系统", "网络"), (), False)
HW = Group("硬件支持组", "li.na@example.com", ("外设", "终端设备"), (), False)
URGENT = Group("应急组", "", (), ("urgent",), False)
DEFAULT = Group("服务台", "", (), (), True)
WANG = Person("王伟", "wang.wei@example.com", "engineer", ("系统运维组",), False)
ZHAO = Person("赵敏", "zhao.min@example.com", "engineer", ("系统运维组",), False)
AWAY = Person("Tom Lee", "tom.lee@example.com", "engineer", ("系统运维组",), True)


def test_route_group() -> None:
    """The first group whose categories and priorities take a ticket wins; else the default
    group."""
    groups = [OPS, HW, DEFAULT]
    assert route_group(groups, "网络", "medium")[0] == OPS
    assert route_group(groups, "外设", "low")[0] == HW
    group, why = route_group(groups, None, "medium")
    assert group == DEFAULT and "default" in why
    assert route_group([URGENT, OPS], "网络", "urgent")[0] == URGENT
    assert route_group([OPS], "建议", "low") == (None, "no group takes it and none is the default")


def test_pick_engineer_strategies() -> None:
    """Fewest open tickets and round robin both skip engineers who are away."""
    people = [WANG, ZHAO, AWAY]
    chosen, why = pick_engineer(OPS, people, {"wang.wei@example.com": 3}, None, "fewest_open")
    assert chosen == ZHAO and "fewest open" in why
    assert pick_engineer(OPS, people, {}, None, "fewest_open")[0] == WANG  # tie: config order
    assert pick_engineer(OPS, people, {}, "wang.wei@example.com", "round_robin")[0] == ZHAO
    assert pick_engineer(OPS, people, {}, "zhao.min@example.com", "round_robin")[0] == WANG
    assert pick_engineer(OPS, [AWAY], {}, None, "fewest_open") == (
        None,
        "everyone in the group is away",
    )
    assert pick_engineer(HW, people, {}, None, "round_robin") == (
        None,
        "the group has no engineers",
    )


def test_duty_roster() -> None:
    """The supervisor on duty follows the roster's days and hours, night shifts over midnight
    included."""
    day = Duty("li.na@example.com", ("mon", "tue", "wed", "thu", "fri"), dt.time(9), dt.time(18))
    night = Duty(
        "chen.gang@example.com",
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        dt.time(18),
        dt.time(9),
    )
    roster = [day, night]
    wednesday = dt.datetime(2026, 11, 25)
    assert on_duty(roster, wednesday.replace(hour=10)) == "li.na@example.com"
    assert on_duty(roster, wednesday.replace(hour=23)) == "chen.gang@example.com"
    assert on_duty(roster, wednesday.replace(hour=3)) == "chen.gang@example.com"
    assert on_duty(roster, dt.datetime(2026, 11, 28, 10)) is None  # Saturday daytime
    assert on_duty([], wednesday) is None


@pytest.mark.parametrize(
    ("name", "masked"),
    [("王伟", "王*"), ("欧阳娜娜", "欧*"), ("Wang Wei", "Wang*"), ("Emily", "Emily*")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_people_and_groups_are_validated(tmp_path: Path) -> None:
    """A group, supervisor or duty day that names nothing configured is refused with its key."""
    with pytest.raises(ConfigError, match=r"people\[0\]\.groups: no group named 'X'"):
        from_dict({"people": [{"name": "a", "email": "a@x.com", "groups": ["X"]}]}, tmp_path)
    with pytest.raises(ConfigError, match=r"groups\[0\]\.supervisor: a@x\.com is not a person"):
        from_dict(
            {
                "people": [{"name": "a", "email": "a@x.com"}],
                "groups": [{"name": "g", "supervisor": "a@x.com"}],
            },
            tmp_path,
        )
    with pytest.raises(ConfigError, match=r"people\[0\]\.email: is the support address"):
        from_dict({"people": [{"name": "a", "email": "support@example.com"}]}, tmp_path)
    with pytest.raises(ConfigError, match=r"duty\[0\]\.days: unknown day"):
        from_dict(
            {
                "people": [{"name": "s", "email": "s@x.com", "role": "supervisor"}],
                "duty": [{"supervisor": "s@x.com", "days": ["someday"]}],
            },
            tmp_path,
        )


def test_ticket_is_routed_assigned_and_the_supervisor_alerted(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """End to end: grading picks the group, the engineer gets the whole ticket, the supervisor
    on duty
    an alert."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    imap_account.append(
        build(
            "销售部 王芳 <wang.fang@example.cn>",
            imap_account.user,
            "ERP系统瘫痪",
            "全部门都无法下单",
            attachments=(("报错截图.png", "image/png", b"\x89PNG shot"),),
        )
    )
    run_once(e2e_config)
    number = today_prefix() + "001"
    ticket = show(e2e_config, number)
    assert (
        ticket["priority"],
        ticket["category"],
        ticket["group"],
        ticket["assignee"],
        ticket["status"],
    ) == ("urgent", "业务系统", "系统运维组", "wang.wei@example.com", "assigned")
    assigned = next(e for e in ticket["events"] if e["kind"] == "assigned")  # type: ignore[union-attr]
    assert "fewest open tickets" in assigned["data"]["reason"]

    mails = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(3)}
    assert set(mails) == {"wang.fang@example.cn", "wang.wei@example.com", "li.na@example.com"}
    ack = parse(mails["wang.fang@example.cn"].data)
    assert "处理人：  王*" in ack.text and "王伟" not in ack.text
    assignment = email.message_from_bytes(
        mails["wang.wei@example.com"].data, policy=email.policy.default
    )
    assert assignment["Subject"].startswith(f"[{number}] 新工单分配给您（紧急）")
    assert assignment["Auto-Submitted"] == "auto-generated"
    parsed = parse(mails["wang.wei@example.com"].data)
    assert "全部门都无法下单" in parsed.text and "wang.fang@example.cn" in parsed.text
    assert [a.filename for a in parsed.attachments] == ["报错截图.png"]
    alert = parse(mails["li.na@example.com"].data)
    assert alert.subject.startswith(f"[{number}] 紧急工单提醒")

    # A printer problem goes to the hardware group; medium priority alerts nobody.
    imap_account.append(build("w@example.cn", imap_account.user, "打印机卡纸", "三楼"))
    run_once(e2e_config)
    second = show(e2e_config, today_prefix() + "002")
    assert (second["group"], second["assignee"]) == ("硬件支持组", "zhou.jie@example.com")
    assert len(smtp_server.wait_for(6, timeout=1)) == 5  # ack + assignment, no alert

    # The engineer's reply with the tag is accepted on the ticket although he was on no mail.
    imap_account.append(
        build(
            "王伟 <wang.wei@example.com>",
            imap_account.user,
            f"Re: [{number}] ERP系统瘫痪",
            "已重启数据库连接池",
        )
    )
    log = run_once(e2e_config)
    assert f"{number} follow-up from wang.wei@example.com" in log
    assert len(tickets(e2e_config)) == 2


def test_requesters_see_the_handlers_address_only_when_configured(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """By default the acknowledgement names the handler masked (王*) and never their address;
    with [support] show_handler_address = true it shows the address as well."""
    base = e2e_config.read_text()
    e2e_config.write_text(base + PEOPLE)
    imap_account.append(build("w@example.cn", imap_account.user, "OA 无法提交", "报错"))
    run_once(e2e_config)
    [ack] = [m for m in smtp_server.wait_for(2) if m.rcpt_tos == ["w@example.cn"]]
    assert "王*" in parse(ack.data).text and "wang.wei@example.com" not in parse(ack.data).text
    shown = base.replace(
        'ticket_prefix = "TS"', 'ticket_prefix = "TS"\nshow_handler_address = true'
    )
    e2e_config.write_text(shown + PEOPLE)
    imap_account.append(build("z@example.cn", imap_account.user, "OA 无法提交", "又报错"))
    run_once(e2e_config)
    [ack] = [m for m in smtp_server.wait_for(4) if m.rcpt_tos == ["z@example.cn"]]
    mail = parse(ack.data)
    assert "王* <wang.wei@example.com>" in mail.text
    assert "&lt;wang.wei@example.com&gt;" in (mail.html or "")


NO_DEFAULT = PEOPLE.replace("default = true\n", "")


def test_an_urgent_ticket_no_group_takes_alerts_the_supervisor_and_check_warns(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Groups that name no category for "no category" and none marked default: `check` warns
    which categories and priorities reach no group; an urgent ticket nobody takes gets an
    `unassigned` event and alerts the supervisor on duty; a medium one only the event."""
    e2e_config.write_text(e2e_config.read_text() + NO_DEFAULT)
    check = run_mailflow(e2e_config, "check")
    assert "routing: warning: no group takes category (none), priority urgent" in check.stdout
    imap_account.append(build("w@example.cn", imap_account.user, "[紧急] 机房断电", "全部停了"))
    imap_account.append(build("z@example.cn", imap_account.user, "请问年假", "如何申请"))
    run_once(e2e_config)
    urgent, medium = (show(e2e_config, today_prefix() + n) for n in ("001", "002"))
    assert urgent["priority"] == "urgent" and urgent["group"] is None
    assert "unassigned" in [e["kind"] for e in urgent["events"]]  # type: ignore[union-attr]
    assert "unassigned" in [e["kind"] for e in medium["events"]]  # type: ignore[union-attr]
    mails = smtp_server.wait_for(3)
    alerts = [m for m in mails if m.rcpt_tos == ["li.na@example.com"]]
    assert len(alerts) == 1 and "[紧急] 机房断电" in parse(alerts[0].data).subject
    assert sorted(m.rcpt_tos[0] for m in mails) == [
        "li.na@example.com",
        "w@example.cn",
        "z@example.cn",
    ]
