"""Settings: every variable documented, and one clear line for a missing or bad one."""

from __future__ import annotations

import pytest

from common.config import ROOT, env_var_names, load_settings
from common.errors import ConfigError


def test_every_environment_variable_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in env_var_names() if f"`{name}`" not in readme]
    assert missing == []


def test_missing_required_setting_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert message.startswith("DATABASE_URL is required") and "\n" not in message


def test_invalid_setting_names_it() -> None:
    with pytest.raises(ConfigError, match=r"^WEBHOOK_AUTH_MODES is invalid"):
        load_settings(database_url="postgresql://x", webhook_auth_modes="jwt,magic")
    with pytest.raises(ConfigError, match=r"^CHUNK_OVERLAP is invalid"):
        load_settings(database_url="postgresql://x", chunk_overlap=0.9)


def test_model_per_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("CLAUDE_MODELS_BY_DIMENSION", "engagement=claude-haiku-5-5")
    s = load_settings()
    assert s.model_for("engagement") == "claude-haiku-5-5"
    assert str(s.cascade_for("engagement")) == "claude-haiku-5-5x1"
    assert str(s.cascade_for("discovery")) == "claude-haiku-5-5x3>claude-sonnet-5-5x1"
    monkeypatch.setenv("SCORING_CASCADE", "")
    assert load_settings().model_for("discovery") == "claude-sonnet-5-5"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("claude-haiku-5-5x3>claude-sonnet-5-5x1", True),
        ("claude-sonnet-5-5", True),
        ("claude-haiku-5-5x0", False),
        ("claude-haiku-5-5x10", False),
        ("claude-haiku-5-5x3>>claude-sonnet-5-5", False),
    ],
)
def test_cascade_setting_is_checked(monkeypatch: pytest.MonkeyPatch, text: str, ok: bool) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("SCORING_CASCADE", text)
    if ok:
        assert str(load_settings().cascade_for("discovery")).startswith(text.split("x")[0])
    else:
        with pytest.raises(ConfigError):
            load_settings()
