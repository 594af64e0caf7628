"""Settings from the environment, as data with their help text.

Every field's description is its help text; `README.md` must mention every environment
variable (a test checks). `load_settings()` turns a validation failure into one line that
names the setting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.calls.redaction import parse as parse_redactions
from common.cascade import Cascade, Stage
from common.errors import ConfigError

DIMENSIONS: tuple[str, ...] = ("product_knowledge", "discovery", "objections", "engagement")
OUTCOMES: tuple[str, ...] = ("won", "lost", "open")  # a deal's outcome (DEAL_STAGE_OUTCOMES)
ROOT = Path(__file__).resolve().parent.parent
_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # a job role (JOB_ROLE_TITLES)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # -- storage -------------------------------------------------------------------------
    database_url: str = Field(
        description="Postgres connection URL (Neon or any Postgres 15+). Required.",
    )
    s3_bucket: str = Field(
        "sales-coach", description="Bucket for raw transcripts and weekly reports."
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint; unset for AWS S3 itself."
    )
    aws_region: str = Field("us-east-1", description="Region of the bucket.")
    retention_years: int = Field(
        5, ge=1, description="Years coaching data, usage and events are kept."
    )

    # -- Gong ----------------------------------------------------------------------------
    gong_base_url: str = Field(
        "https://api.gong.io",
        description="Your Gong API base URL (e.g. https://us-NNNNN.api.gong.io).",
    )
    gong_access_key: SecretStr | None = Field(None, description="Gong API access key.")
    gong_access_key_secret: SecretStr | None = Field(
        None, description="Gong API access key secret."
    )
    gong_requests_per_second: float = Field(
        3.0, gt=0, description="Client-side cap on Gong API requests per second."
    )
    gong_daily_budget: int = Field(
        10_000,
        gt=0,
        description="Gong API requests per UTC day shared by every worker (Gong allows 10,000).",
    )
    gong_max_retry_after_s: float = Field(
        60.0,
        ge=0,
        description="Longest Gong Retry-After a worker waits; longer re-queues the call for later.",
    )
    gong_moment_url_template: str = Field(
        "{call_url}&t={seconds}",
        description="Link to a moment in a Gong call; {call_url} and {seconds} are filled in.",
    )
    deal_stage_outcomes: str = Field(
        "Prospecting=open,Qualification=open,Needs Analysis=open,Value Proposition=open,"
        "Id. Decision Makers=open,Perception Analysis=open,Proposal/Price Quote=open,"
        "Negotiation/Review=open,Closed Won=won,Closed Lost=lost",
        description="Your CRM's opportunity stage names and what each means, comma-separated"
        " `Stage Name=won|lost|open` (case-insensitive; default: Salesforce's standard stages)."
        " A stage not listed is decided by Probability 100 (won) or 0 (lost), else reported as"
        " unmapped and kept open.",
    )
    job_role_titles: str = Field(
        "account executive=ae,sales engineer=se,solutions=se,customer success=csm",
        description="Job role from Gong's user title, comma-separated `title phrase=role`: the"
        " first phrase the title contains (case-insensitive) gives the role, any slug (ae, se,"
        " csm or the company's own). Rubric variants and rankings follow the role; an admin's"
        " `set-job-role` wins over the title.",
    )
    default_job_role: str = Field(
        "ae",
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Job role of a person whose Gong title matches no JOB_ROLE_TITLES phrase.",
    )

    # -- webhook -------------------------------------------------------------------------
    webhook_auth_modes: str = Field(
        "jwt", description="Comma-separated delivery checks to accept: jwt, hmac, url_key."
    )
    gong_webhook_public_keys: str = Field(
        "", description="Comma-separated public keys of your Gong rules (base64 DER or PEM)."
    )
    gong_webhook_url: str = Field(
        "", description="The public URL Gong posts to; must equal the JWT's webhook_url claim."
    )
    webhook_hmac_secret: SecretStr | None = Field(
        None, description="Shared secret for HMAC-SHA256 of the raw body (hmac mode)."
    )
    webhook_hmac_header: str = Field(
        "X-Signature-SHA256", description="Header carrying the hex HMAC (hmac mode)."
    )
    webhook_url_key: SecretStr | None = Field(
        None,
        description="Secret of Gong's 'URL includes key' option, sent as ?key=... (url_key mode).",
    )
    webhook_max_body_bytes: int = Field(
        1_048_576, gt=0, description="Largest accepted webhook body; larger gets 413."
    )
    webhook_body_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest time a client may take to send a webhook body; slower gets 408.",
    )
    http_header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Longest time a client of the webhook or MCP server may take to send a"
        " request's headers (from connecting, or from its first byte on a kept-alive"
        " connection); slower is disconnected.",
    )
    mcp_body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Longest time a client may take to send an MCP request's body; slower"
        " gets 408 and the connection is closed.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that /metrics requires (Prometheus `authorization`);"
        " unset: /metrics is not served.",
    )
    webhook_inline_dispatch: bool = Field(
        False, description="Also try to start the flow right after storing (short timeout)."
    )

    # -- Prefect -------------------------------------------------------------------------
    analyze_deployment: str = Field(
        "analyze-calls/analyze-calls",
        description="Deployment the dispatcher starts for each group of calls.",
    )
    dispatch_batch_size: int = Field(50, gt=0, description="Events claimed per dispatch pass.")
    max_calls_in_flight: int = Field(
        24,
        gt=0,
        description="Calls dispatched and not yet finished, at most (backpressure on a backlog).",
    )
    calls_per_run: int = Field(
        8, gt=0, le=100, description="Calls analysed by one flow run (one Gong request for all)."
    )
    analysis_max_attempts: int = Field(
        5,
        gt=0,
        description="Failed runs of a call (outages not counted) before it is parked as needs_attention.",
    )
    analysis_retry_base_s: float = Field(
        60.0, gt=0, description="First backoff after a failed run; doubles per failure."
    )
    analysis_retry_max_s: float = Field(
        3600.0, gt=0, description="Longest backoff between runs of a call (outages included)."
    )
    analysis_run_deadline_s: float = Field(
        3600.0,
        gt=0,
        description="A run not finished this long after it was created is cancelled and re-queued.",
    )
    analysis_task_retries: int = Field(
        2, ge=0, description="In-run retries of a dimension after an outage (Claude, Postgres)."
    )
    analysis_task_retry_delay_s: float = Field(
        20.0, ge=0, description="Delay before an in-run retry of a dimension."
    )
    analysis_drain_s: float = Field(
        90.0,
        gt=0,
        description="On SIGTERM (a deploy, scale-in, spot notice) an analysis run starts no new"
        " Claude request, lets those in flight finish and be recorded, and exits within this"
        " many seconds; set the container's stop timeout above it.",
    )
    journal_dir: Path = Field(
        ROOT / ".data" / "journal",
        description="Local journal of paid Claude responses not yet in Postgres (keep on a volume).",
    )
    db_outage_wait_s: float = Field(
        60.0, ge=0, description="How long a worker waits out a Postgres restart before failing."
    )

    # -- Claude --------------------------------------------------------------------------
    anthropic_api_key: SecretStr | None = Field(None, description="Anthropic API key.")
    anthropic_base_url: str | None = Field(
        None, description="Anthropic API base URL; the local stand-in in tests and the demo."
    )
    claude_model: str = Field("claude-sonnet-5-5", description="Default model for scoring.")
    coaching_language: str = Field(
        "English",
        description=(
            "Language of the coaching text (rationales, strengths, improvements, notes),"
            " whatever language a call is in; quotes stay verbatim in the call's language."
        ),
    )
    claude_models_by_dimension: str = Field(
        "", description="Per-dimension models, e.g. 'engagement=claude-haiku-5-5,discovery=...'."
    )
    scoring_cascade: str = Field(
        "claude-haiku-5-5x3>claude-sonnet-5-5x1",
        description=(
            "How each dimension is scored: stages `modelxK` joined by `>`. K samples of the first"
            " model; when they do not hold (disagree, lack evidence, N/A split, overall check) the"
            " next stage is asked (a criterion only short of a grounded quote asks the same"
            " model once more first); when the last does not hold, a person reviews. Empty: one"
            " sample of CLAUDE_MODEL (or CLAUDE_MODELS_BY_DIMENSION), never asked again."
            " `sales-coach eval --models` says which to choose."
        ),
    )
    scoring_cascade_by_dimension: str = Field(
        "",
        description="Per-dimension cascades, e.g. 'engagement=claude-haiku-5-5x3,discovery=...'.",
    )
    publish_tolerance: float = Field(
        1.0,
        ge=0,
        le=4,
        description=(
            "Samples agree when every criterion's scores are within this many points of each"
            " other; a wider spread escalates the dimension (or holds it for review)."
        ),
    )
    validity_min_deals: int = Field(
        100,
        ge=2,
        description=(
            "Closed deals below which the validity analysis (which criteria go with won deals)"
            " prints no numbers, only how many more are needed; also when the weekly report"
            " starts using the company's own won-deal figures instead of vendors' benchmarks."
        ),
    )
    coaching_min_events: int = Field(
        30,
        ge=2,
        description=(
            "Coaching events (a manager's override or confirmation, a resolved dispute) below"
            " which `coaching-effect` prints no numbers, only how many more are needed."
        ),
    )
    audit_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description=(
            "The share of published scores a manager is asked to confirm (the review queue's"
            " audit sample, picked by a hash of the session, so it is stable); what managers"
            " answer feeds agreement and `calibrate`. 0: no audit."
        ),
    )
    claude_max_output_tokens: int = Field(
        4096, gt=0, description="max_tokens of each scoring request."
    )
    claude_max_retries: int = Field(
        4, ge=0, description="Retries on 429/529/5xx/connection errors (exponential, jitter)."
    )
    claude_concurrency: int = Field(
        16,
        gt=0,
        description="Simultaneous Claude requests across all workers (leased slots in Postgres).",
    )
    claude_slot_wait_s: float = Field(
        900.0, gt=0, description="Longest wait for a Claude slot before the call is retried later."
    )
    claude_claim_lease_s: float = Field(
        120.0,
        gt=1,
        description="Lease of a claimed chunk and of a Claude slot; renewed while held.",
    )
    claude_claim_wait_s: float = Field(
        600.0, gt=0, description="Longest wait for another run that is scoring the same chunk."
    )
    claude_cache_ttl: Literal["5m", "1h"] = Field(
        "5m", description="Prompt-cache TTL of the static prefix and transcript."
    )
    claude_count_tokens: bool = Field(
        False, description="Calibrate token estimates with Anthropic's free count_tokens endpoint."
    )
    claude_batch_cache_ttl: Literal["5m", "1h"] = Field(
        "1h", description="Prompt-cache TTL in Message Batches requests (1h suits batches)."
    )
    chunk_max_tokens: int = Field(
        80_000, gt=1000, description="Transcripts above this many tokens are chunked."
    )
    chunk_overlap: float = Field(0.2, ge=0, lt=0.5, description="Overlap between chunks.")
    token_scale: float = Field(
        1.3, gt=0, description="Claude tokens per cl100k token (newer tokenizer ~30% more)."
    )
    monthly_budget_usd: float = Field(
        500.0, ge=0, description="Month-to-date Claude spend above which analyses are refused."
    )
    rubrics_dir: Path = Field(ROOT / "rubrics", description="Folder of rubric YAML files.")
    prices_file: Path = Field(
        ROOT / "common" / "prices.csv", description="Model price table (CSV, effective dates)."
    )

    # -- weekly reports ------------------------------------------------------------------
    report_timezone: str = Field("UTC", description="Time zone of report weeks (Mondays 07:00).")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming webhook for the weekly report links."
    )
    smtp_host: str | None = Field(None, description="SMTP server for emailing report links.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_user: str | None = Field(None, description="SMTP user (STARTTLS login when set).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("coach@localhost", description="From address of report emails.")
    score_alert_below: float | None = Field(
        None,
        ge=1,
        le=5,
        description=(
            "Alert the rep's manager when a call scores below this on any dimension (N/A never"
            " alerts); once per call. Unset: off."
        ),
    )
    score_alert_drop: float | None = Field(
        None,
        gt=0,
        le=4,
        description=(
            "Alert the rep's manager when a rep's four-week average on a dimension falls by at"
            " least this against the four weeks before; once per rep and week. Unset: off."
        ),
    )
    report_recipients: str = Field("", description="Comma-separated report email recipients.")

    # -- the rep's note after each call ---------------------------------------------------
    rep_notes: bool = Field(
        False,
        description="Send each rep a short coaching note after each call (published or"
        " confirmed scores only), by Slack DM or e-mail as they prefer. Off: none is queued"
        " or sent.",
    )
    rep_note_default_cadence: Literal["each_call", "daily", "weekly", "off"] = Field(
        "each_call",
        description="A rep's cadence until they choose one (set_note_preferences): each_call,"
        " daily (a digest at 08:00 in REPORT_TIMEZONE), weekly (Mondays 08:00) or off.",
    )
    plans_send_unapproved: bool = Field(
        False,
        description="Send a rep's weekly plan draft that no manager approved within a day of"
        " drafting, as drafted (marked unreviewed). Off: only approved plans are sent.",
    )
    slack_bot_token: SecretStr | None = Field(
        None,
        description="Slack bot token (xoxb-...) that DMs reps their notes; scopes chat:write,"
        " im:write, im:history, users:read, users:read.email. Unset: notes go by e-mail.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api", description="Slack Web API base URL (a local stand-in in tests)."
    )
    ack_link_secret: SecretStr | None = Field(
        None,
        description="Secret that signs a note's one-click acknowledgement link (served at"
        " MCP_PUBLIC_URL/notes/ack). Unset, or MCP_PUBLIC_URL unset: no link; reps acknowledge"
        " with the acknowledge_note tool.",
    )

    # -- MCP ---------------------------------------------------------------------------
    mcp_user: str = Field(
        "", description="Gong user id or email the stdio MCP server (Claude Desktop) acts as."
    )
    mcp_auth: Literal["tokens", "jwt", "oidc"] = Field(
        "tokens",
        description="How the HTTP MCP server authenticates: tokens (ours), jwt (your identity"
        " provider's access tokens) or oidc (OAuth sign-in through your identity provider).",
    )
    mcp_public_url: str = Field(
        "",
        description="Public base URL of the HTTP MCP server (oidc mode), e.g. https://coach.example.com.",
    )
    mcp_token_days: int = Field(
        90, ge=1, le=366, description="Days a new MCP bearer token is valid (at most 366)."
    )
    mcp_allowed_hosts: str = Field(
        "",
        description="Comma-separated Host values the HTTP MCP server answers besides"
        " MCP_PUBLIC_URL's host and localhost (DNS-rebinding protection).",
    )
    mcp_unknown_call_lookups_per_day: int = Field(
        50,
        ge=0,
        description="Gong look-ups of calls we have not stored that one user's analyze_call may"
        " make per UTC day (each spends the company's Gong budget).",
    )
    mcp_identity_claim: str = Field(
        "email",
        description="JWT/ID-token claim holding the user's e-mail address (email, upn, ...);"
        " matched to an active Gong user's e-mail, never to a user id.",
    )
    mcp_jwt_jwks_uri: str = Field("", description="JWKS URL of your identity provider (jwt mode).")
    mcp_jwt_public_key: str = Field(
        "", description="PEM public key that signs access tokens (jwt mode, instead of JWKS)."
    )
    mcp_jwt_issuer: str = Field(
        "", description="Expected `iss` of access tokens (jwt mode: required)."
    )
    mcp_jwt_audience: str = Field(
        "", description="Expected `aud` of access tokens (jwt mode: required)."
    )
    mcp_oidc_config_url: str = Field(
        "",
        description="OpenID discovery URL (oidc mode), e.g."
        " https://accounts.google.com/.well-known/openid-configuration.",
    )
    mcp_oidc_client_id: str = Field("", description="OAuth client id registered with your IdP.")
    mcp_oidc_client_secret: SecretStr | None = Field(
        None, description="OAuth client secret registered with your IdP."
    )
    mcp_analyze_wait_s: float = Field(
        20.0, ge=0, le=300, description="How long analyze_call waits for a new analysis."
    )

    # -- monitors (thresholds; a monitor alerts once when crossed and once on recovery) ------
    monitor_window_h: float = Field(
        24.0, gt=0, description="Hours the rate and percentile monitors look back."
    )
    monitor_webhook_p99_ms: float = Field(
        500.0, gt=0, description="Alert when the webhook's P99 response time passes this (ms)."
    )
    monitor_prompt_cache_min: float = Field(
        0.6, ge=0, le=1, description="Alert when the prompt-cache hit rate falls below this."
    )
    monitor_analysis_cache_min: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Alert when the analysis-cache (tier-1) hit rate falls below this.",
    )
    monitor_tokens_month_max: float = Field(
        150_000_000, gt=0, description="Alert when this month's Claude tokens pass this."
    )
    monitor_budget_fraction: float = Field(
        0.8,
        gt=0,
        description="Alert when month-to-date spend passes this share of MONTHLY_BUDGET_USD.",
    )
    monitor_analysis_p95_s: float = Field(
        60.0,
        gt=0,
        description="Alert when P95 time from webhook to four dimensions passes this (s).",
    )
    monitor_error_rate_max: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Alert when the share of Claude requests that fail passes this.",
    )
    monitor_waiting_max: int = Field(
        20, ge=0, description="Alert when more calls than this wait over 15 minutes in the outbox."
    )
    monitor_parked_max: int = Field(
        0, ge=0, description="Alert when more calls than this are parked as needs_attention."
    )
    monitor_gong_budget_fraction: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Alert when today's Gong requests pass this share of the budget.",
    )
    alert_recipients: str = Field(
        "", description="Comma-separated e-mail recipients of monitor alerts (needs SMTP_HOST)."
    )

    # -- privacy -----------------------------------------------------------------------
    redact: str = Field(
        "",
        description="Comma-separated kinds replaced by placeholders in transcripts before they are"
        " stored or sent to Claude: email, phone, card (empty: off).",
    )

    # -- logging -------------------------------------------------------------------------
    log_level: str = Field("INFO", description="Log level of the services.")

    @field_validator("webhook_auth_modes")
    @classmethod
    def _known_modes(cls, value: str) -> str:
        modes = {m.strip() for m in value.split(",") if m.strip()}
        unknown = modes - {"jwt", "hmac", "url_key"}
        if unknown or not modes:
            raise ValueError(f"must be one or more of jwt, hmac, url_key; got {value!r}")
        return value

    @field_validator("deal_stage_outcomes")
    @classmethod
    def _known_outcomes(cls, value: str) -> str:
        for pair in filter(str.strip, value.split(",")):
            stage, sep, outcome = pair.rpartition("=")
            if not sep or not stage.strip() or outcome.strip().lower() not in OUTCOMES:
                raise ValueError(f"each entry is `Stage Name=won|lost|open`; got {pair.strip()!r}")
        return value

    @field_validator("job_role_titles")
    @classmethod
    def _title_roles(cls, value: str) -> str:
        for pair in filter(str.strip, value.split(",")):
            phrase, sep, role = pair.rpartition("=")
            if not sep or not phrase.strip() or not _SLUG.fullmatch(role.strip().lower()):
                raise ValueError(
                    f"each entry is `title phrase=role` (a slug); got {pair.strip()!r}"
                )
        return value

    @field_validator("redact")
    @classmethod
    def _known_redactions(cls, value: str) -> str:
        parse_redactions(value)
        return value

    @property
    def redact_kinds(self) -> tuple[str, ...]:
        return parse_redactions(self.redact)

    @property
    def auth_modes(self) -> set[str]:
        return {m.strip() for m in self.webhook_auth_modes.split(",") if m.strip()}

    @field_validator("scoring_cascade")
    @classmethod
    def _cascade(cls, value: str) -> str:
        if value.strip():
            Cascade.parse(value)
        return value

    @field_validator("scoring_cascade_by_dimension")
    @classmethod
    def _cascades(cls, value: str) -> str:
        for pair in filter(str.strip, value.split(",")):
            name, sep, text = pair.partition("=")
            if not sep or name.strip() not in DIMENSIONS:
                raise ValueError(f"each entry is `dimension=cascade`; got {pair.strip()!r}")
            Cascade.parse(text)
        return value

    def cascade_for(self, dimension: str) -> Cascade:
        """The dimension's cascade: its own, else one sample of a model named for it in
        CLAUDE_MODELS_BY_DIMENSION, else SCORING_CASCADE, else one sample of CLAUDE_MODEL."""
        for pair in self.scoring_cascade_by_dimension.split(","):
            name, _, text = pair.partition("=")
            if name.strip() == dimension and text.strip():
                return Cascade.parse(text)
        named = self._named_model(dimension)
        if named is not None or not self.scoring_cascade.strip():
            return Cascade((Stage(named or self.claude_model, 1),))
        return Cascade.parse(self.scoring_cascade)

    def _named_model(self, dimension: str) -> str | None:
        for pair in self.claude_models_by_dimension.split(","):
            name, _, model = pair.partition("=")
            if name.strip() == dimension and model.strip():
                return model.strip()
        return None

    def model_for(self, dimension: str) -> str:
        """The first model a dimension is asked (its cascade's first stage)."""
        return self.cascade_for(dimension).first.model


def env_var_names() -> list[str]:
    """Every environment variable the settings read, upper-case."""
    return [name.upper() for name in Settings.model_fields]


def load_settings(**overrides: object) -> Settings:
    """Read settings; a missing or invalid one raises ConfigError naming it in one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        help_text = Settings.model_fields.get(name.lower())
        hint = f" ({help_text.description})" if help_text and help_text.description else ""
        reason = "is required" if first["type"] == "missing" else f"is invalid: {first['msg']}"
        raise ConfigError(f"{name} {reason}{hint}") from None
