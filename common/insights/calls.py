"""Reading coaching back: one call (a compact summary or in full), and call search.

Only current sessions are read (completed, not superseded by a newer analysis). Search runs
on `call_scores` (one row per analysed call, full-text indexed) with keyset pagination.

The score shown for a dimension (and each criterion) follows the publish gate's rule, kept in
SQL (`shown_scores`, migration 0019): a manager's word first, whatever its source; else the
AI's score when the gate published it; else nothing: the dimension is held for review, and
the AI's score is shown only as a suggestion with the reasons it was held.
"""

from __future__ import annotations

import base64
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from common import deals
from common.access.scope import not_in_scope
from common.accuracy import manager_scores
from common.accuracy.manager_scores import ManagerScoreOut
from common.calls import roles
from common.calls.flags import Flag
from common.config import DIMENSIONS
from common.db import Row
from common.deals import CallDealOut
from common.errors import AccessDenied, InvalidRequest
from common.insights.links import safe_link

MAX_PAGE_SIZE = 100
TOTAL_CAP = 200  # counting stops here: "more than 200" is answer enough for a question


class EvidenceOut(BaseModel):
    quote: str
    speaker: str
    timestamp: str
    link: str | None


Source = Literal["manager", "ai"]
HELD = "held for review"


class CriterionOut(BaseModel):
    criterion_id: str
    name: str
    score: float | None = Field(
        description="The score shown, 1-5: a manager's where they scored the criterion, else"
        " the AI's when its dimension is published; null when N/A (the rationale says why) or"
        " held for review"
    )
    rationale: str
    evidence: list[EvidenceOut]
    ai_score: float | None = Field(
        default=None, description="The AI's score (its suggestion when held)"
    )
    manager_score: int | None = Field(
        default=None, description="The latest manager's score, if any"
    )
    source: Source | None = Field(default=None, description="Whose score `score` is")
    held: bool = False


class DimensionCoaching(BaseModel):
    dimension: str
    overall_score: float | None = Field(
        description="The score shown, 1-5: a manager's word, else the AI's published score;"
        " null when the whole dimension is N/A for this call (see coaching_note) or held for"
        " review (see held)"
    )
    source: Source | None = Field(default=None, description="Whose score overall_score is")
    shown: str = Field(
        default="", description="The score as a person reads it: whose it is, or held for review"
    )
    held: bool = Field(
        default=False,
        description="Held for review: the AI's score is a suggestion a manager confirms or"
        " changes, in no score, average, trend or report until then",
    )
    ai_score: float | None = Field(
        default=None,
        description="The AI's score, kept beside a manager's (its suggestion when held)",
    )
    ai_suggestion: float | None = Field(
        default=None,
        description="Held only: the AI's suggested score, a suggestion and not a score",
    )
    review_reasons: list[str] = Field(default=[], description="Why the AI's score was held")
    state: str = Field(default="published", description="The gate's word: published | needs_review")
    escalated: bool = False
    samples: int = Field(default=1, description="Paid samples the AI's score is the median of")
    weighted_score: float | None
    criteria: list[CriterionOut]
    strengths: list[str]
    improvements: list[str]
    coaching_note: str
    rubric_version: str
    model: str
    analysed_at: datetime
    quotes_dropped: int
    manager_scores: list[ManagerScoreOut] = []  # managers' own scores, beside the AI's


class CallHeader(BaseModel):
    """Which call, whose, and its Gong link."""

    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    gong_url: str | None
    call_type: str | None = Field(None, description="The type the applicability rules chose")
    job_role: str | None = Field(
        None,
        description="The rep's job role when the call started (ae, se, csm or the company's"
        " own): it chose the rubric variants the scores are on, and the reps they compare with",
    )
    skipped: str | None = Field(None, description="Why the rules skipped the call (not scored)")
    deal: CallDealOut | None = Field(
        None,
        description="The CRM deal the call belongs to: its stage at the call, its stage and"
        " outcome (won, lost, open) now; null when the call has none (list_deal_calls lists"
        " the deal's calls)",
    )


class CallCoaching(CallHeader):
    """Every criterion of every dimension (detail='full')."""

    flags: list[Flag] = []
    metrics: dict[str, Any] | None
    dimensions: list[DimensionCoaching]
    missing_dimensions: list[str]


class Point(BaseModel):
    dimension: str
    text: str
    quote: str | None
    speaker: str | None
    timestamp: str | None
    link: str | None = Field(description="Gong link to the moment quoted")


class CallView(CallHeader):
    """A call's coaching at a glance; with detail='full' also every dimension's criteria,
    evidence and managers' scores, and the conversation metrics."""

    flags: list[Flag] = Field(
        [],
        description="Lines that address the AI reviewer (ignored when scoring): tell the manager",
    )
    scores: dict[str, float]
    sources: dict[str, Source] = Field(
        default={},
        description="Whose each shown score is: a manager's word, or the AI's published one",
    )
    not_applicable: list[str] = Field(
        [], description="Dimensions judged N/A for this call: left out of scores and averages"
    )
    held: list[str] = Field(
        default=[],
        description="Dimensions held for review: no score yet, left out of scores and averages",
    )
    ai_suggestions: dict[str, float] = Field(
        default={},
        description="The AI's suggestions for the held dimensions: suggestions, not scores",
    )
    average: float | None
    top_strength: Point | None
    top_improvement: Point | None
    manager_scores: int = Field(description="Managers' own scores recorded for this call")
    missing_dimensions: list[str]
    dimensions: list[DimensionCoaching] | None = Field(None, description="detail='full' only")
    metrics: dict[str, Any] | None = Field(None, description="detail='full' only")


class CallSummary(BaseModel):
    call_id: str
    title: str
    started_at: datetime | None
    rep_id: str | None
    rep_name: str | None
    scores: dict[str, float]
    average: float | None
    held: int = Field(
        default=0, description="Dimensions held for review (not in scores or average)"
    )


class CallPage(BaseModel):
    items: list[CallSummary]
    total: int = Field(description=f"Matching calls, counted up to {TOTAL_CAP:,}")
    total_is_lower_bound: bool = Field(description=f"True when more than {TOTAL_CAP:,} match")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


def call_coaching(
    conn: psycopg.Connection[Row], call_id: str, default_role: str = roles.DEFAULT_ROLE
) -> CallCoaching:
    call = conn.execute(
        "SELECT c.*, u.name AS rep_name FROM calls c LEFT JOIN users u ON u.id = c.primary_user_id"
        " WHERE c.id = %s",
        (call_id,),
    ).fetchone()
    if call is None:
        raise AccessDenied(not_in_scope(call_id))
    rows = conn.execute(
        "SELECT * FROM current_sessions s WHERE s.call_id = %s ORDER BY s.dimension",
        (call_id,),
    ).fetchall()
    human = manager_scores.for_call(conn, call_id)
    shown = {
        r["dimension"]: r
        for r in conn.execute(
            "SELECT dimension, ai_score, state, review_reasons, shown_score, shown_source,"
            " not_applicable, held FROM shown_scores WHERE call_id = %s",
            (call_id,),
        )
    }
    dims = [
        _shown(_dimension(r), shown.get(r["dimension"]), human.get(r["dimension"], []))
        for r in rows
    ]
    return CallCoaching(
        call_id=call["id"],
        title=call["title"],
        started_at=call["started_at"],
        rep_id=call["primary_user_id"],
        rep_name=call["rep_name"],
        gong_url=safe_link(call["url"]),
        call_type=call["call_type"],
        job_role=roles.role_at(
            conn, call["primary_user_id"], call["started_at"] or call["created_at"], default_role
        ),
        skipped=call["skipped_reason"],
        deal=deals.for_call(conn, call_id),
        metrics=call["metrics"],
        flags=[Flag.model_validate(f) for f in call["flags"] or []],
        dimensions=dims,
        missing_dimensions=[d for d in DIMENSIONS if d not in {x.dimension for x in dims}],
    )


def _dimension(row: Row) -> DimensionCoaching:
    """The stored result (a DimensionResult) as the tool's view; extra stored fields are ignored."""
    r = row["result"]
    criteria = [CriterionOut.model_validate(c) for c in r["criteria"]]
    for c in criteria:
        for e in c.evidence:
            e.link = safe_link(e.link)
    return DimensionCoaching(
        dimension=row["dimension"],
        overall_score=r["overall_score"],
        weighted_score=r["weighted_score"],
        criteria=criteria,
        strengths=r["strengths"],
        improvements=r["improvements"],
        coaching_note=r["coaching_note"],
        rubric_version=row["rubric_version"],
        model=row["model"],
        analysed_at=row["created_at"],
        quotes_dropped=row["quotes_dropped"],
        state=row.get("state", "published"),
        escalated=row.get("escalated", False),
        samples=row.get("samples", 1),
    )


def _shown(
    d: DimensionCoaching, rule: Row | None, human: list[ManagerScoreOut]
) -> DimensionCoaching:
    """The dimension as a person sees it: `rule` is its `shown_scores` row, `human` its
    manager scores newest first (the first of a criterion is that criterion's word)."""
    if rule is None:  # the session is not current: nothing to show
        return d.model_copy(update={"manager_scores": human})
    ai = float(rule["ai_score"]) if rule["ai_score"] is not None else None
    score = float(rule["shown_score"]) if rule["shown_score"] is not None else None
    source, held = rule["shown_source"], bool(rule["held"])
    latest: dict[str, ManagerScoreOut] = {}
    for m in human:
        latest.setdefault(m.criterion, m)
    criteria = [_criterion(c, latest.get(c.criterion_id), held) for c in d.criteria]
    return d.model_copy(
        update={
            "overall_score": score,
            "source": source,
            "shown": _label(score, source, held, ai, bool(rule["not_applicable"])),
            "held": held,
            "ai_score": ai,
            "ai_suggestion": ai if held else None,
            "review_reasons": [str(x) for x in rule["review_reasons"] or []],
            "state": rule["state"],
            "criteria": criteria,
            "manager_scores": human,
        }
    )


def _criterion(c: CriterionOut, word: ManagerScoreOut | None, held: bool) -> CriterionOut:
    if word is not None:
        score = float(word.score) if word.score is not None else None
        return c.model_copy(
            update={
                "score": score,
                "ai_score": c.score,
                "manager_score": word.score,
                "source": "manager",
            }
        )
    if held:
        return c.model_copy(update={"score": None, "ai_score": c.score, "held": True})
    return c.model_copy(update={"ai_score": c.score, "source": "ai"})


def _label(score: float | None, source: str | None, held: bool, ai: float | None, na: bool) -> str:
    ai_text = "N/A" if ai is None else f"{ai:.1f}"
    if held:
        return f"{HELD}: the AI suggests {ai_text} (a suggestion, not a score)"
    shown = "N/A" if na or score is None else f"{score:.1f}"
    if source == "manager":
        return f"{shown}, a manager's score (the AI said {ai_text})"
    return f"{shown}, the AI's score"


def without_suggestions(full: CallCoaching) -> CallCoaching:
    """What a rep reads of their call: a held dimension says it is held and why, and nothing
    of the AI's suggestion (its number, criteria scores or coaching text) until a manager
    has given their word."""
    dims = [
        d.model_copy(
            update={
                "shown": HELD,
                "ai_score": None,
                "ai_suggestion": None,
                "weighted_score": None,
                "criteria": [
                    c.model_copy(update={"ai_score": None, "rationale": ""}) for c in d.criteria
                ],
                "strengths": [],
                "improvements": [],
                "coaching_note": "",
            }
        )
        if d.held
        else d
        for d in full.dimensions
    ]
    return full.model_copy(update={"dimensions": dims})


def view(full: CallCoaching, detail: str = "summary") -> CallView:
    """Scores, the top strength and the top improvement, each with one quote and its link;
    with detail='full' every dimension and the metrics too."""
    scored = [d for d in full.dimensions if d.overall_score is not None]
    scores = {d.dimension: d.overall_score for d in scored if d.overall_score is not None}
    ranked = sorted(scored, key=lambda d: scores[d.dimension])
    return CallView(
        **full.model_dump(include=set(CallHeader.model_fields)),
        scores=scores,
        sources={d.dimension: d.source for d in scored if d.source is not None},
        not_applicable=[
            d.dimension for d in full.dimensions if d.overall_score is None and not d.held
        ],
        held=[d.dimension for d in full.dimensions if d.held],
        ai_suggestions={
            d.dimension: d.ai_suggestion
            for d in full.dimensions
            if d.held and d.ai_suggestion is not None
        },
        average=round(sum(scores.values()) / len(scores), 2) if scores else None,
        top_strength=_point(ranked[-1], ranked[-1].strengths, best=True) if ranked else None,
        top_improvement=_point(ranked[0], ranked[0].improvements, best=False) if ranked else None,
        manager_scores=sum(len(d.manager_scores) for d in full.dimensions),
        flags=full.flags,
        missing_dimensions=full.missing_dimensions,
        dimensions=full.dimensions if detail == "full" else None,
        metrics=full.metrics if detail == "full" else None,
    )


def _point(d: DimensionCoaching, texts: list[str], best: bool) -> Point | None:
    if not texts:
        return None
    scored = [c for c in d.criteria if c.score is not None]
    criteria = sorted(scored, key=lambda c: c.score or 0.0, reverse=best)
    ev = next((c.evidence[0] for c in criteria if c.evidence), None)
    return Point(
        dimension=d.dimension,
        text=texts[0],
        quote=ev.quote if ev else None,
        speaker=ev.speaker if ev else None,
        timestamp=ev.timestamp if ev else None,
        link=ev.link if ev else None,
    )


# -- search -----------------------------------------------------------------------------------


def encode_cursor(started_at: datetime, call_id: str) -> str:
    return base64.urlsafe_b64encode(f"{started_at.isoformat()}|{call_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        when, _, call_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(when), call_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this server returned; start without it") from None


class SearchQuery(BaseModel):
    """What `search_calls` looks for: the search parameters, named and checked in one place.

    The score filters apply to `dimension` when given, else to the call's average. `text`
    is matched with Postgres full-text search (web-search syntax: words, "a phrase", -not,
    or) over titles, coaching notes, strengths and improvements. `rep` is an id, e-mail or
    name, resolved inside the caller's scope; dates are days in the report time zone.
    """

    model_config = ConfigDict(frozen=True)

    rep: str | None = None
    from_date: date | None = None
    to_date: date | None = None
    dimension: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    text: str | None = None
    cursor: str | None = None
    page_size: int = 25

    def check(self) -> SearchQuery:
        """The query, or InvalidRequest naming what is wrong with it."""
        if self.dimension is not None and self.dimension not in DIMENSIONS:
            raise InvalidRequest(f"dimension must be one of {', '.join(DIMENSIONS)}")
        lo, hi = self.min_score, self.max_score
        if lo is not None and hi is not None and lo > hi:
            raise InvalidRequest("min_score is above max_score")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise InvalidRequest("from_date is after to_date")
        return self


def search_calls(
    conn: psycopg.Connection[Row],
    query: SearchQuery,
    *,
    scope: AbstractSet[str] | None,
    rep_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CallPage:
    """Analysed calls in scope matching the query, newest first, a page at a time; `rep_id`,
    `start` and `end` are the query's rep and days resolved by the caller."""
    query.check()
    column = query.dimension or "average"
    min_score, max_score, text = query.min_score, query.max_score, query.text
    where = ["TRUE"]
    params: dict[str, Any] = {"size": max(1, min(query.page_size, MAX_PAGE_SIZE))}
    if scope is not None:
        where.append("cs.rep_id = ANY(%(scope)b::text[])")  # binary: 1,000 ids dump fast
        params["scope"] = sorted(scope)
    if rep_id is not None:
        where.append("cs.rep_id = %(rep)s")
        params["rep"] = rep_id
    if start is not None:
        where.append("cs.started_at >= %(start)s")
        params["start"] = start
    if end is not None:
        where.append("cs.started_at < %(end)s")
        params["end"] = end
    if min_score is not None:
        where.append(f"cs.{column} >= %(lo)s")
        params["lo"] = min_score
    if max_score is not None:
        where.append(f"cs.{column} <= %(hi)s")
        params["hi"] = max_score
    if text:
        if not _has_words(conn, text):
            raise InvalidRequest("the search text has no searchable words")
        where.append("cs.search @@ websearch_to_tsquery('english', %(text)s)")
        params["text"] = text
    filters = " AND ".join(where)
    # Never prepared: a generic plan cannot see how common the word is or how wide the scope,
    # and picks a bitmap AND of nearly every call for a frequent word (docs/mcp-query-plans.md).
    total = conn.execute(
        f"SELECT count(*) AS n FROM (SELECT 1 FROM call_scores cs WHERE {filters}"
        f" LIMIT {TOTAL_CAP + 1}) t",
        params,
        prepare=False,
    ).fetchone()
    if query.cursor:
        params["c_at"], params["c_id"] = decode_cursor(query.cursor)
        filters += " AND (cs.started_at, cs.call_id) < (%(c_at)s, %(c_id)s)"
    rows = conn.execute(
        f"""SELECT cs.*, u.name AS rep_name FROM call_scores cs
            LEFT JOIN users u ON u.id = cs.rep_id
            WHERE {filters}
            ORDER BY cs.started_at DESC, cs.call_id DESC LIMIT %(size)s + 1""",
        params,
        prepare=False,
    ).fetchall()
    more, rows = len(rows) > params["size"], rows[: params["size"]]
    n = int(total["n"]) if total else 0
    return CallPage(
        items=[_summary(r) for r in rows],
        total=min(n, TOTAL_CAP),
        total_is_lower_bound=n > TOTAL_CAP,
        next_cursor=encode_cursor(rows[-1]["started_at"], rows[-1]["call_id"]) if more else None,
    )


def _has_words(conn: psycopg.Connection[Row], text: str) -> bool:
    row = conn.execute(
        "SELECT numnode(websearch_to_tsquery('english', %s)) > 0 AS ok", (text,)
    ).fetchone()
    return bool(row and row["ok"])


def _summary(r: Row) -> CallSummary:
    return CallSummary(
        call_id=r["call_id"],
        title=r["title"],
        started_at=r["started_at"],
        rep_id=r["rep_id"],
        rep_name=r["rep_name"],
        scores={d: float(r[d]) for d in DIMENSIONS if r[d] is not None},
        average=float(r["average"]) if r["average"] is not None else None,
        held=r["held"],
    )
