"""The report as an HTML mail: inline-styled tables (``templates/report.html.j2``), PNG charts
sent as ``cid:`` parts, and the Markdown report as its plain-text alternative.

For a file (``--format html``) the same page carries its charts as ``data:`` URIs, so a browser
shows it; the mail (``--format eml`` and the scheduled send) refers to them by ``cid:``, which
is what Outlook, Gmail, Apple Mail, Foxmail and QQ Mail display (data: URIs and remote images
are blocked or dropped by several of them).
"""

from __future__ import annotations

import base64
from typing import Any

import jinja2

from mailflow.config import PRIORITIES, Config
from mailflow.delivery.rendering import PRIORITY_LABELS, builtin_templates
from mailflow.reports import charts, formats

LABELS = {
    "zh_CN": {
        "title": "技术支持分析报告",
        "compared": "对比",
        "tickets": "工单量",
        "now": "本期",
        "before": "上期",
        "change": "变化",
        "received": "受理",
        "resolved": "解决",
        "closed": "关闭",
        "reopened": "重开",
        "by_priority": "级别",
        "by_source": "来源",
        "by_group": "处理组",
        "problems": "高频问题",
        "category": "问题分类",
        "article": "知识库文章",
        "helped": "有帮助/已推荐",
        "none": "未分类",
        "empty": "本期没有工单。",
        "first_response": "首次响应时间",
        "resolution": "解决时间",
        "priority": "级别",
        "count": "工单数",
        "median": "中位数",
        "target": "时限",
        "of_target": "占时限的百分比（100% 为时限）",
        "met": "达标率",
        "backlog": "积压工单",
        "age_open": "期末未结",
        "age_lt_1d": "不足 1 天",
        "age_1_3d": "1–3 天",
        "age_3_7d": "3–7 天",
        "age_gt_7d": "超过 7 天",
        "satisfaction": "满意度",
        "responses": "评价数 / 调查数",
        "rate": "回复率",
        "score": "满意度得分（0–100）",
        "no_comment": "（无评语）",
        "workload": "工作量",
        "engineer": "工程师",
        "group": "处理组",
        "breaches": "超时工单",
        "ticket": "工单",
        "clock": "时限",
        "deadline": "截止",
        "handler": "处理人",
        "clock_respond": "响应",
        "clock_resolve": "解决",
        "more_breaches": "仅列出前 50 张；完整列表见 JSON 或 CSV 报告。",
    },
    "en": {
        "title": "Support report",
        "compared": "compared with",
        "tickets": "Tickets",
        "now": "this period",
        "before": "previous",
        "change": "change",
        "received": "received",
        "resolved": "resolved",
        "closed": "closed",
        "reopened": "reopened",
        "by_priority": "priority",
        "by_source": "source",
        "by_group": "group",
        "problems": "Most frequent problems",
        "category": "category",
        "article": "knowledge-base article",
        "helped": "helped/offered",
        "none": "(none)",
        "empty": "No tickets in this period.",
        "first_response": "First response",
        "resolution": "Resolution",
        "priority": "priority",
        "count": "tickets",
        "median": "median",
        "target": "target",
        "of_target": "% of the target (100% is the target)",
        "met": "met",
        "backlog": "Backlog",
        "age_open": "open at the end",
        "age_lt_1d": "< 1 day",
        "age_1_3d": "1–3 days",
        "age_3_7d": "3–7 days",
        "age_gt_7d": "> 7 days",
        "satisfaction": "Satisfaction",
        "responses": "ratings / surveys",
        "rate": "response rate",
        "score": "score (0–100)",
        "no_comment": "(no comment)",
        "workload": "Workload",
        "engineer": "engineer",
        "group": "group",
        "breaches": "Missed deadlines",
        "ticket": "ticket",
        "clock": "clock",
        "deadline": "deadline",
        "handler": "handler",
        "clock_respond": "response",
        "clock_resolve": "resolution",
        "more_breaches": "The first 50; JSON and CSV list all.",
    },
}


def chart_images(report: dict[str, Any], config: Config, language: str) -> dict[str, bytes]:
    """The charts of a report as PNG bytes by name (ChartError without a CJK font)."""
    font = charts.cjk_font(config.reports.font)
    t, labels = LABELS[language], PRIORITY_LABELS[language]
    now, before = report["tickets"]["by_priority"], report["previous"]["tickets"]["by_priority"]
    images = {
        "priority": charts.bars(
            [labels[p] for p in PRIORITIES],
            [
                (t["now"], [now.get(p, 0) for p in PRIORITIES]),
                (t["before"], [before.get(p, 0) for p in PRIORITIES]),
            ],
            f"{t['tickets']} · {t['by_priority']}",
            font,
        )
    }
    categories = report["problems"]["categories"]
    if categories:
        images["problems"] = charts.horizontal(
            [c["name"] or t["none"] for c in categories],
            [c["count"] for c in categories],
            t["problems"],
            font,
        )
    for clock in ("first_response", "resolution"):
        rows = report["times"][clock]
        # Against the target, not in hours: an urgent 15-minute target and a low 7-day one
        # share one axis, and 100 % is the line that matters.
        images[clock] = charts.bars(
            [labels[p] for p in rows],
            [
                (t["median"], [_of_target(r, "median_seconds") for r in rows.values()]),
                ("P90", [_of_target(r, "p90_seconds") for r in rows.values()]),
            ],
            f"{t[clock]} · {t['of_target']}",
            font,
            line=100.0,
        )
    satisfaction = report["satisfaction"]["counts"]
    images["satisfaction"] = charts.bars(
        list(satisfaction),
        [
            (t["now"], list(satisfaction.values())),
            (
                t["before"],
                [report["previous"]["satisfaction"]["counts"].get(k, 0) for k in satisfaction],
            ),
        ],
        t["satisfaction"],
        font,
    )
    return images


def _of_target(row: dict[str, Any], key: str) -> float:
    return 100 * float(row[key] or 0) / (float(row["target_minutes"]) * 60)


def _environment(config: Config) -> jinja2.Environment:
    folders = [str(config.templates_path)] if config.templates_path else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(builtin_templates())]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def page(report: dict[str, Any], config: Config, language: str, sources: dict[str, str]) -> str:
    """The report's HTML; ``sources`` maps each chart to its src (cid: or data:)."""
    template = _environment(config).get_template("report.html.j2")
    names = ("priority", "problems", "first_response", "resolution", "satisfaction")
    return template.render(
        report=report,
        t=LABELS[language],
        lang=language,
        priority_label=PRIORITY_LABELS[language],
        support={"name": config.support.name, "address": config.support.address},
        images={name: sources.get(name, "") for name in names},
        span=formats.duration,
        share=formats.share,
    )


def standalone(report: dict[str, Any], config: Config, language: str) -> str:
    """The HTML for a file: charts as data: URIs."""
    images = chart_images(report, config, language)
    sources = {
        n: "data:image/png;base64," + base64.b64encode(b).decode() for n, b in images.items()
    }
    return page(report, config, language, sources)


def for_mail(
    report: dict[str, Any], config: Config, language: str, domain: str
) -> tuple[str, str, tuple[tuple[str, bytes], ...]]:
    """HTML, text alternative and the cid images of the mailed report."""
    images = chart_images(report, config, language)
    cids = {name: f"{name}.{report['period']['name']}@{domain}" for name in images}
    html = page(report, config, language, {n: f"cid:{c}" for n, c in cids.items()})
    return html, formats.as_markdown(report), tuple((cids[n], b) for n, b in images.items())
