"""Grading on intake (spec step 2): priority and category from configurable rules.

Pure. Rules are tried in order; the first rule that matches and sets a priority decides the
priority, the first that matches and sets a category decides the category (one rule may do
both). A rule matches when every condition it names holds; a condition holds when any of its
values does. Keywords are case-insensitive substrings; an address condition is a whole
address or an ``@domain``. The decision names its rule, so an engineer can see why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailflow.mail.parsing import InboundMail


@dataclass(frozen=True)
class Rule:
    name: str
    keywords: tuple[str, ...] = ()  # in subject or body
    subject: tuple[str, ...] = ()  # in the subject only (markers such as [紧急])
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    priority: str | None = None
    category: str | None = None

    def matches(self, mail: InboundMail, subject_only: bool = False) -> bool:
        """Whether every condition holds; ``subject_only``: keywords count in the subject only."""
        subject = mail.subject.lower()
        text = subject if subject_only else f"{subject}\n{mail.text.lower()}"
        sender = mail.sender.email if mail.sender else ""
        recipients = [a.email for a in (*mail.to, *mail.cc)]
        checks = []
        if self.keywords:
            checks.append(any(k.lower() in text for k in self.keywords))
        if self.subject:
            checks.append(any(k.lower() in subject for k in self.subject))
        if self.senders:
            checks.append(any(_address_matches(sender, p) for p in self.senders))
        if self.recipients:
            checks.append(any(_address_matches(r, p) for r in recipients for p in self.recipients))
        return bool(checks) and all(checks)


@dataclass(frozen=True)
class Grade:
    priority: str
    priority_rule: str
    category: str | None
    category_rule: str


def _address_matches(address: str, pattern: str) -> bool:
    pattern = pattern.lower()
    return address.endswith(pattern) if pattern.startswith("@") else address == pattern


def grade(mail: InboundMail, rules: Sequence[Rule], default_priority: str = "medium") -> Grade:
    """Priority and category of a new request, each with the name of the rule that chose it.

    Priority: the first rule that matches anywhere (an outage word in the body is an outage).
    Category: the first rule that matches on the subject, else the first that matches anywhere:
    the subject names what the mail is about, while a body mentions other things on the way
    ("ERP 无法登录" whose body says "已经重启过电脑" is about the ERP, not the computer).
    """
    priority, priority_rule = default_priority, "default (no rule matched)"
    for rule in rules:
        if rule.priority and rule.matches(mail):
            priority, priority_rule = rule.priority, rule.name
            break
    categorising = [rule for rule in rules if rule.category]
    for subject_only in (True, False):
        found = next((r for r in categorising if r.matches(mail, subject_only)), None)
        if found is not None:
            return Grade(priority, priority_rule, found.category, found.name)
    return Grade(priority, priority_rule, None, "no rule matched")


# Used when the configuration names no rules: the spec's grading, in Chinese and English.
DEFAULT_RULES = (
    Rule(
        "紧急标记 / urgent marker",
        subject=("[紧急]", "【紧急】", "[urgent]", "[critical]"),
        priority="urgent",
    ),
    Rule("高优先级标记 / high marker", subject=("[高]", "【高】", "[high]"), priority="high"),
    Rule("低优先级标记 / low marker", subject=("[低]", "【低】", "[low]"), priority="low"),
    Rule(
        "大面积故障 / outage",
        keywords=(
            "瘫痪",
            "无法使用",
            "全部",
            "所有人",
            "宕机",
            "outage",
            "is down",
            "system down",
            "everyone",
        ),
        priority="urgent",
    ),
    Rule(
        "功能故障 / broken function",
        keywords=(
            "无法登录",
            "不能登录",
            "登录不了",
            "报错",
            "无法提交",
            "cannot log in",
            "can't log in",
            "error",
        ),
        priority="high",
    ),
    Rule(
        "建议 / suggestion",
        keywords=("建议", "希望增加", "功能需求", "suggestion", "feature request"),
        priority="low",
        category="建议",
    ),
    Rule(
        "终端设备 / terminal device",
        keywords=(
            "电脑",
            "笔记本",
            "蓝屏",
            "死机",
            "开不了机",
            "laptop",
            "blue screen",
            "pc ",
            "won't boot",
        ),
        category="终端设备",
    ),
    Rule(
        "业务系统 / business system",
        keywords=("erp", "oa", "crm", "审批", "用友", "金蝶"),
        category="业务系统",
    ),
    Rule(
        "网络 / network",
        keywords=("网络", "断网", "wifi", "wi-fi", "vpn", "network", "internet"),
        category="网络",
    ),
    Rule(
        "外设 / peripheral",
        keywords=("打印机", "扫描仪", "投影仪", "卡纸", "printer", "scanner", "projector"),
        category="外设",
    ),
    Rule(
        "产品咨询 / product question",
        keywords=("如何", "怎么", "怎样", "how do i", "how to"),
        category="产品咨询",
    ),
)
