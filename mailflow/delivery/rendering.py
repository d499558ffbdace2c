"""Render mail templates (Jinja2) into subject, text and HTML.

Templates live in ``templates/<language>/<kind>.{subject,txt,html}.j2``; an operator's folder
(``[templates] path``) overrides them file by file. Every subject must carry the ticket tag,
because replies are threaded by it: ``check_templates`` renders each subject at start-up and
refuses a template that drops the tag.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from mailflow.errors import TemplateError
from mailflow.store.ids import tag

KINDS = (
    "acknowledgement",
    "attachments_refused",
    "assignment",
    "supervisor_alert",
    "progress",
    "command_error",
    "escalation",
    "reopened",
    "followup",
    "survey",
    "rating_alert",
    "sla_warning",
    "sla_breach",
    "sla_second_level",
    "kb_draft",
)
OPERATOR_KINDS = (
    "calendar_gap",
    "report_font",
)  # about mailflow itself, not a ticket: no tag in the subject

PRIORITY_LABELS = {
    "zh_CN": {"urgent": "紧急", "high": "高", "medium": "中", "low": "低"},
    "en": {"urgent": "Urgent", "high": "High", "medium": "Medium", "low": "Low"},
}
STATUS_LABELS = {
    "zh_CN": {
        "new": "新建",
        "assigned": "已分配",
        "in_progress": "处理中",
        "waiting": "等待反馈",
        "resolved": "已解决",
        "closed": "已关闭",
    },
    "en": {
        "new": "New",
        "assigned": "Assigned",
        "in_progress": "In progress",
        "waiting": "Waiting for you",
        "resolved": "Resolved",
        "closed": "Closed",
    },
}


def builtin_templates() -> Path:
    """The templates shipped with mailflow: inside the installed package, or the repo's folder."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "templates"
    if packaged.is_dir():
        return packaged
    return package.parent / "templates"


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]{3,}")


def pick_language(text: str, default: str) -> str:
    """The language to answer a requester in.

    Chinese characters anywhere → zh_CN; none, but Latin words → en (an English-writing
    requester should not get a Chinese mail); nothing to go by → the configured default.
    """
    if _HAN.search(text):
        return "zh_CN"
    if _LATIN.search(text):
        return "en"
    return default


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def duration(minutes: int, language: str) -> str:
    """``90`` → ``1 小时 30 分钟`` / ``1 h 30 min``."""
    days, rest = divmod(int(minutes), 1440)
    hours, mins = divmod(rest, 60)
    units = ("天", "小时", "分钟") if language == "zh_CN" else ("d", "h", "min")
    parts = [f"{n} {u}" for n, u in zip((days, hours, mins), units, strict=True) if n]
    return " ".join(parts) or f"0 {units[2]}"


class Renderer:
    """Renders one kind of mail in one language."""

    def __init__(self, override: Path | None, tz: dt.tzinfo) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override is not None:
            loaders.append(jinja2.FileSystemLoader(str(override)))
        loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
        self.tz = tz
        loader = jinja2.ChoiceLoader(loaders)
        # Two environments over the same files. Jinja decides escaping when it compiles a
        # template, by that template's own name, so a ``.txt.j2`` partial included by an HTML
        # template would print a requester's text raw into HTML. In ``self.html`` every
        # template, partials included, is compiled with autoescape on; ``self.text`` (subjects
        # and plain-text bodies) never escapes.
        self.text = self._environment(loader, autoescape=False)
        self.html = self._environment(loader, autoescape=True)

    def _environment(self, loader: jinja2.BaseLoader, autoescape: bool) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=loader,
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are read once per process (a changed template takes a restart); checking
            # every file's mtime on every mail costs more than rendering the mail.
            auto_reload=False,
        )
        env.filters["localtime"] = self._localtime
        return env

    def _localtime(self, moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(self.tz).strftime(fmt)

    def render(self, kind: str, language: str, context: dict[str, Any]) -> Rendered:
        """Subject, text and HTML of mail ``kind`` in ``language``."""
        context = {
            **context,
            "lang": language,
            "priority_label": PRIORITY_LABELS[language],
            "status_label": STATUS_LABELS[language],
            "duration": lambda minutes: duration(minutes, language),
        }
        try:
            subject = self.text.get_template(f"{language}/{kind}.subject.j2").render(context)
            text = self.text.get_template(f"{language}/{kind}.txt.j2").render(context)
            html = self.html.get_template(f"{language}/{kind}.html.j2").render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} not found") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template for {kind} ({language}) failed: {exc}") from exc
        return Rendered(" ".join(subject.split()), text, html)

    def check_templates(self, sample: dict[str, Any]) -> None:
        """Render every kind in every language; refuse one whose subject drops the ticket tag."""
        number = sample["ticket"]["number"]
        for language in PRIORITY_LABELS:
            for kind in KINDS:
                rendered = self.render(kind, language, sample)
                if tag(number) not in rendered.subject:
                    raise TemplateError(
                        f"template {language}/{kind}.subject.j2 must keep the ticket tag "
                        f"({{{{ tag }}}} renders as {tag(number)}), got {rendered.subject!r}"
                    )
            for kind in OPERATOR_KINDS:
                self.render(kind, language, sample)
