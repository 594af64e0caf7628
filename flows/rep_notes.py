"""The rep-notes flow: every five minutes, the coaching notes that are due go to their reps
by Slack DM or e-mail, each call's note or a rep's digest (`common.repnotes.deliver_due`)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from common.config import load_settings
from common.repnotes import deliver_due


@flow(name="rep-notes")
def rep_notes() -> dict[str, Any]:
    s = load_settings()
    return deliver_due(s, s.database_url).model_dump()
