"""``Key: value`` lines at the top of a mail: an engineer's commands (spec step 4) and a service
desk's intake lines (step 1).

Pure parsing: which lines are commands, what their keys and values mean (with Chinese aliases),
and what text is left. Checking and applying a command is ``commands``' job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYS = {
    "status": "status",
    "状态": "status",
    "priority": "priority",
    "优先级": "priority",
    "级别": "priority",
    "assign": "assign",
    "指派": "assign",
    "分配": "assign",
    "处理人": "assign",
    "group": "group",
    "组": "group",
    "处理组": "group",
    "category": "category",
    "分类": "category",
    "类别": "category",
    "escalate": "escalate",
    "升级": "escalate",
    "internal": "internal",
    "内部": "internal",
    "cc": "cc",
    "抄送": "cc",
    "kb": "kb",
    "知识库": "kb",
    "publish": "publish",
    "发布": "publish",
}
STATUS_VALUES = {
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "处理中": "in_progress",
    "waiting": "waiting",
    "等待": "waiting",
    "等待反馈": "waiting",
    "resolved": "resolved",
    "已解决": "resolved",
    "解决": "resolved",
    "closed": "closed",
    "关闭": "closed",
    "已关闭": "closed",
    "assigned": "assigned",
    "已分配": "assigned",
}
PRIORITY_VALUES = {
    "urgent": "urgent",
    "紧急": "urgent",
    "high": "high",
    "高": "high",
    "medium": "medium",
    "中": "medium",
    "normal": "medium",
    "low": "low",
    "低": "low",
}
YES = {"yes", "y", "true", "1", "是", "对", "内部", "发布", "同意"}
NO = {"no", "n", "false", "0", "否", "不", "不发布", "不同意"}

# A command line: a key of letters (or up to six CJK characters), a colon, a value.
_LINE = re.compile(r"^\s*([A-Za-z-]{1,20}|[\u4e00-\u9fff]{1,6})\s*[:：]\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class CommandLine:
    key: str  # canonical key, or "" when unknown
    written: str  # the key as written
    value: str
    line: str


def split_commands(text: str) -> tuple[list[CommandLine], str]:
    """The command lines at the top of ``text`` and the text after them."""
    lines = text.splitlines()
    commands: list[CommandLine] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            if commands:
                index += 1
                break
            index += 1
            continue
        match = _LINE.match(line)
        if match is None:
            break
        written, value = match.group(1), match.group(2)
        commands.append(CommandLine(KEYS.get(written.lower(), ""), written, value, line))
        index += 1
    if not commands:
        return [], text.strip()
    return commands, "\n".join(lines[index:]).strip()


INTAKE_KEYS = {
    "requester": "requester",
    "需求方": "requester",
    "报修人": "requester",
    "来电人": "requester",
    "phone": "phone",
    "电话": "phone",
    "手机": "phone",
    "分机": "phone",
    "department": "department",
    "部门": "department",
    "channel": "channel",
    "渠道": "channel",
}


def split_intake(text: str) -> tuple[dict[str, str], str]:
    """``Requester:``/``Phone:``/``Department:`` lines a service desk writes at the top."""
    lines = text.splitlines()
    fields: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _LINE.match(line)
        if not line.strip() and not fields:
            index += 1
            continue
        if match is None or match.group(1).lower() not in INTAKE_KEYS:
            break
        fields[INTAKE_KEYS[match.group(1).lower()]] = match.group(2).strip()
        index += 1
    return fields, "\n".join(lines[index:]).strip() if fields else text
