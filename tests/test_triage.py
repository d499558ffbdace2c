"""Grading on intake: priority and category from rules, each decision naming its rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.config import from_dict
from mailflow.errors import ConfigError
from mailflow.mail.parsing import parse
from mailflow.process.grading import DEFAULT_RULES, Rule, grade
from tests.conftest import ImapAccount
from tests.helpers import run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer


def mail(
    subject: str, body: str = "", sender: str = "a@example.com", to: str = "support@example.com"
):  # type: ignore[no-untyped-def]
    return parse(build(sender, to, subject, body or "."))


@pytest.mark.parametrize(
    ("subject", "body", "priority", "category"),
    [
        ("ERP系统瘫痪", "全公司都无法下单", "urgent", "业务系统"),
        ("[紧急] 机房空调", "温度升高", "urgent", None),
        ("OA 无法提交审批", "点击提交后报错", "high", "业务系统"),
        ("打印机卡纸", "三楼打印机", "medium", "外设"),
        ("VPN drops", "the vpn disconnects every ten minutes", "medium", "网络"),
        ("建议增加暗色主题", "", "low", "建议"),
        ("How to share a calendar", "how do I share my calendar?", "medium", "产品咨询"),
        ("Production is down", "the shop is down for everyone", "urgent", None),
        ("[low] typo on the intranet", "", "low", None),
        ("随便问问", "你好", "medium", None),
        # The subject names the topic; a body's passing mention does not (电脑 → 终端设备).
        ("ERP系统无法登录", "已经重启过电脑，问题依旧", "high", "业务系统"),
        ("VPN 连不上", "笔记本在家连不上公司 VPN", "medium", "网络"),
        ("求助", "我的笔记本蓝屏了", "medium", "终端设备"),
    ],
)
def test_default_rules(subject: str, body: str, priority: str, category: str | None) -> None:
    graded = grade(mail(subject, body), DEFAULT_RULES)
    assert (graded.priority, graded.category) == (priority, category)


def test_first_matching_rule_wins_and_is_named() -> None:
    """The first matching rule decides and the event names it."""
    rules = [
        Rule("VIP senders", senders=("@board.example.com",), priority="high"),
        Rule(
            "ERP mailbox",
            recipients=("erp-support@example.com",),
            priority="urgent",
            category="业务系统",
        ),
        Rule("printers", keywords=("打印机",), category="外设"),
    ]
    graded = grade(
        mail("打印机", sender="ceo@board.example.com", to="erp-support@example.com"), rules
    )
    assert graded.priority == "high" and graded.priority_rule == "VIP senders"
    assert graded.category == "业务系统" and graded.category_rule == "ERP mailbox"
    plain = grade(mail("hello"), rules)
    assert plain.priority == "medium" and plain.priority_rule.startswith("default")


def test_rule_needs_all_its_conditions() -> None:
    """A rule applies only when all its conditions match."""
    rule = Rule(
        "ERP from sales", keywords=("erp",), senders=("@sales.example.com",), priority="urgent"
    )
    assert grade(mail("ERP", sender="x@sales.example.com"), [rule]).priority == "urgent"
    assert grade(mail("ERP", sender="x@hr.example.com"), [rule]).priority == "medium"


@pytest.mark.parametrize(
    ("rule", "key", "problem"),
    [
        ({"keywords": ["x"], "priority": "high"}, "rules[0].name", "needs a name"),
        ({"name": "n", "priority": "high"}, "rules[0].keywords", "at least one condition"),
        ({"name": "n", "keywords": ["x"]}, "rules[0].priority", "priority or a category"),
        (
            {"name": "n", "keywords": ["x"], "priority": "asap"},
            "rules[0].priority",
            "must be one of",
        ),
        ({"name": "n", "keywords": "x", "priority": "high"}, "rules[0].keywords", "a list"),
    ],
)
def test_bad_rules_name_the_key(
    tmp_path: Path, rule: dict[str, object], key: str, problem: str
) -> None:
    """A bad rule is refused with its key."""
    with pytest.raises(ConfigError) as caught:
        from_dict({"rules": [rule]}, tmp_path)
    assert caught.value.key == key and problem in str(caught.value)


def test_configured_rules_grade_the_ticket_and_the_acknowledgement(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Configured rules grade the ticket and the acknowledgement shows the priority's targets."""
    e2e_config.write_text(
        e2e_config.read_text()
        + """
[[rules]]
name = "ERP 瘫痪"
keywords = ["ERP"]
subject = ["瘫痪"]
priority = "urgent"
category = "业务系统"
"""
    )
    imap_account.append(
        build("销售部 <sales@example.com>", imap_account.user, "ERP 瘫痪了", "全部无法下单")
    )
    run_once(e2e_config)
    detail = show(e2e_config, today_prefix() + "001")
    assert detail["priority"] == "urgent" and detail["category"] == "业务系统"
    events = {e["kind"]: e["data"] for e in detail["events"]}  # type: ignore[union-attr]
    assert events["priority_set"]["rule"] == "ERP 瘫痪"
    assert events["category_set"]["rule"] == "ERP 瘫痪"
    ack = parse(smtp_server.wait_for(1)[0].data)
    assert "问题级别：紧急" in ack.text and "15 分钟内" in ack.text
