"""Rendering the parts of a context as text, and fitting them into a token budget.

Pure functions: the service gathers items, corrections and reports and stores what they
decide. Each part starts with its reference, ``[item 12 v3]``, so a model can cite it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from learnloop.context.models import Citation, Part
from learnloop.context.ports import Tokenizer
from learnloop.events.tracking_models import Report
from learnloop.knowledge.models import Item

MIN_PART_TOKENS = 32  # a part cut shorter than this says too little to be worth its place
SEPARATOR = "\n\n"
CITED_ATTRS = ("source", "proposal_id", "proposal_source", "target_item_id")


def ref(citation: Citation) -> str:
    """The reference a part is cited by.

    >>> ref(Citation(kind="item", item_id=12, version=3, title="t"))
    '[item 12 v3]'
    >>> ref(Citation(kind="report", report_id=7, title="t"))
    '[report 7]'
    """
    if citation.kind == "report":
        return f"[report {citation.report_id}]"
    if citation.kind == "trends":
        return f"[trends {citation.attrs.get('account', '')}]"
    return f"[{citation.kind} {citation.item_id} v{citation.version}]"


def header(query: str, account: str | None) -> str:
    lines = [f"Question: {query}"]
    if account:
        lines.append(f"Account: {account}")
    return "\n".join(lines)


def item_part(item: Item, kind: Literal["correction", "item"] = "item") -> tuple[Citation, str]:
    attrs = {k: item.attrs[k] for k in CITED_ATTRS if k in item.attrs}
    citation = Citation(
        kind=kind,
        item_id=item.item_id,
        version=item.version,
        title=item.title,
        attrs=attrs,
    )
    label = "Correction" if kind == "correction" else item.kind.capitalize()
    text = f"{ref(citation)} {label}: {item.title}"
    return citation, f"{text}\n{item.body}".rstrip()


def report_part(report: Report) -> tuple[Citation, str]:
    citation = Citation(
        kind="report",
        report_id=report.report_id,
        item_id=report.playbook_item_id,
        title=report.playbook,
        attrs={"account": report.account, "status": report.status},
    )
    lines = [
        f"{ref(citation)} Playbook report: {report.playbook} for {report.account} "
        f"({report.status}, {report.steps_completed}/{report.steps_total} steps)"
    ]
    if report.executive_summary:
        lines.append(f"Summary: {report.executive_summary}")
    if report.outcomes:
        lines.append("Outcomes: " + "; ".join(_outcome(o.model_dump()) for o in report.outcomes))
    if report.next_steps:
        lines.append("Next steps: " + "; ".join(report.next_steps))
    return citation, "\n".join(lines)


def trends_part(account: str, days: int, lines: Sequence[str]) -> tuple[Citation, str]:
    r"""The account's KPI trends as one part.

    >>> trends_part("acme", 90, ["NPS: 40 -> 30"])[1]
    '[trends acme] KPI trends of acme over the last 90 days:\n- NPS: 40 -> 30'
    """
    citation = Citation(
        kind="trends", title=f"KPI trends of {account}", attrs={"account": account, "days": days}
    )
    body = "\n".join(f"- {line}" for line in lines)
    return citation, f"{ref(citation)} KPI trends of {account} over the last {days} days:\n{body}"


def _outcome(o: dict[str, Any]) -> str:
    """
    >>> _outcome({"metric": "nps", "before": 20, "after": 35.5, "unit": None})
    'nps 20 -> 35.5'
    """
    unit = f" {o['unit']}" if o.get("unit") else ""
    before = "?" if o.get("before") is None else f"{o['before']:g}"
    after = "?" if o.get("after") is None else f"{o['after']:g}"
    return f"{o['metric']} {before} -> {after}{unit}"


def fit(
    tokenizer: Tokenizer, head: str, parts: Sequence[tuple[Citation, str]], budget: int
) -> tuple[list[Part], list[Citation]]:
    """The parts that fit in ``budget`` tokens after the header, in the order given.

    A part that does not fit whole is cut to the room left when that is at least
    MIN_PART_TOKENS, and left out otherwise; later, smaller parts may still fit.
    """
    room = budget - tokenizer.count(head) - tokenizer.count(SEPARATOR)
    kept: list[Part] = []
    left: list[Citation] = []
    for citation, text in parts:
        cost = tokenizer.count(text) + tokenizer.count(SEPARATOR)
        if cost <= room:
            kept.append(Part(citation=citation, text=text, tokens=cost))
            room -= cost
        elif room - tokenizer.count(SEPARATOR) >= MIN_PART_TOKENS:
            cut = tokenizer.truncate(text, room - tokenizer.count(SEPARATOR))
            tokens = tokenizer.count(cut) + tokenizer.count(SEPARATOR)
            kept.append(Part(citation=citation, text=cut, tokens=tokens, truncated=True))
            room -= tokens
        else:
            left.append(citation)
    return kept, left


def assemble(head: str, parts: Sequence[Part]) -> str:
    return SEPARATOR.join([head, *(part.text for part in parts)])
