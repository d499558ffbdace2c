"""What requesters see of staff and callers (spec: 工程师*, phone 后4位隐藏)."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff]")


def mask_name(name: str) -> str:
    """A handler's name as requesters see it (spec: 工程师*): 王伟 → 王*, Wang Wei → Wang*."""
    name = name.strip()
    if not name:
        return ""
    if _CJK.match(name):
        return name[0] + "*"
    return name.split()[0] + "*"


def mask_phone(phone: str) -> str:
    """A phone number with its last four digits hidden (spec: 后4位隐藏)."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    hidden = set(digits[-4:])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(phone))
