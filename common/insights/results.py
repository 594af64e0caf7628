"""What the coaching tools return (besides the read-model types in `calls`/`performance`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.insights.calls import CallView


class AnalysisStatus(BaseModel):
    call_id: str
    status: Literal["cached", "completed", "queued", "running", "failed"]
    flow_run_id: str | None = None
    done_dimensions: int
    total_dimensions: int
    coaching: CallView | None = None
    message: str


class WeeklyRep(BaseModel):
    rep_id: str
    rep_name: str
    job_role: str | None = Field(None, description="The rep's job role that week")
    calls: int
    scores: dict[str, float]


class WeeklyReportOut(BaseModel):
    week_start: date
    scope: Literal["rep", "team", "index"]
    subject_id: str
    subject_name: str | None
    reps: list[WeeklyRep] = Field(description="This page of the report's reps, with their scores")
    reps_total: int = Field(description="Reps in the report (pages: offset and limit)")
    url: str = Field(description="Link to the HTML report (valid for 7 days)")


class Spend(BaseModel):
    requests: int
    usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    prompt_cache_hit_rate: float | None
    tier1_lookups: int
    tier1_hits: int
    tier1_hit_rate: float | None
    estimated_requests: int = Field(
        0,
        description="Of requests: in flight when a process was killed, so paid but never"
        " answered; recorded at estimated usage (an upper bound)",
    )
    estimated_usd: float = Field(0.0, description="Of usd: the estimated requests' spend")


class CostReport(BaseModel):
    period: Literal["today", "week", "month"]
    scope: Literal["team", "company"] = Field(
        description="team: Claude spend on your team's calls; company: everything (admins)"
    )
    spend: Spend
    monthly_budget_usd: float | None = Field(None, description="Company budget (admins)")
    budget_left_usd: float | None = Field(None, description="Company budget left (admins)")
    pipeline: dict[str, Any] | None = Field(
        None, description="Waiting, running and parked calls (admins)"
    )


class ManagerScoreRecorded(BaseModel):
    id: int
    call_id: str
    rep_id: str | None
    rep_name: str | None
    dimension: str
    criterion: str
    score: int | None


class AgreementOut(BaseModel):
    ai_vs_manager: dict[str, Any]
    human_ceiling: dict[str, Any]
    ai_consistency: dict[str, Any]
    disputes: dict[str, Any] = Field(
        {}, description="Reps' disputes opened in the window: open, upheld, overridden"
    )
    run_to_run: dict[str, Any] = Field(
        {},
        description=(
            "Per dimension, how far the AI's own samples of the same call agree"
            " (Krippendorff's alpha, interval; per criterion too) and the noise of one score (sd)"
        ),
    )
    publishing: dict[str, Any] = Field(
        {},
        description="Per dimension, the share the gate published, published after escalating,"
        " and held for a person's review",
    )


class AccessEntry(BaseModel):
    at: datetime
    user_id: str
    user_name: str | None
    action: str
    call_id: str | None
    subject: str | None = Field(description="A weekly report read: scope:subject")


class AccessLog(BaseModel):
    entries: list[AccessEntry] = Field(description="Newest first, a page at a time")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next (older) page; null at the end"
    )


class HealthOut(BaseModel):
    monitors: list[dict[str, Any]] = Field(
        description="name, help, unit, value, threshold, kind (max|min), ok (null: no data)"
    )
    open_incidents: list[dict[str, Any]]
