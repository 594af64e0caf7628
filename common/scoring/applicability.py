"""Which calls are scored, and on which dimensions: `rubrics/applicability.yaml`.

Skip rules come first: the first rule whose conditions all hold skips the call with its
reason (an internal meeting, a voicemail, a stand-up); a skipped call costs nothing, is
stored with the reason, shows in `sales-coach status` and to the rep's managers (MCP
`skipped_calls`), and an admin can force it. Otherwise the first call type whose conditions
hold chooses the dimensions (a renewal check-in has no buying decision to discover); a type
without conditions is the default.

Conditions, all of which must hold for a rule or type to match (a list is any of):
`scope` (Gong's Internal / External / Unknown), `systems`, `directions`, `languages`,
`title_matches` (a case-insensitive regular expression, or a list of them), `title_matches_all`
(several, each of which must match: two weak words together), `title_excludes` (must not match: the
words of a sales call that merely mentions an interview or a stand-up), `no_external_speakers`
(no speaker Gong places outside the company talks: a call a customer speaks in is not an
internal meeting, whatever its title), `shorter_than_s`, `fewer_words_than`, `users` (Gong user
ids of the call's rep) and `teams` (manager ids: a rep anywhere under one of them).

Rubric variants: a call type may name one per dimension (`rubrics:`); else a variant naming the
rep's job role at the call (`roles: [se]` in rubrics/variants/<name>.yaml, `common.calls.roles`)
scores that dimension; else the dimension's rubric. A variant is for a call type or for roles,
not both. Each variant has its own rubric version, so a role's rubric never shares a cache key.

A title is a weak signal and a skipped call is never coached, so the shipped title rules need
a strong phrase ("1:1", "Vorstellungsgespräch", "面接") or two weak words, step aside for sales
words, and skip an internal meeting only when no customer speaks in it. The table in
tests/scoring/test_applicability.py is what they are held to.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.config import DIMENSIONS
from common.errors import RubricError
from common.rubrics import RubricSet

FILE = "applicability.yaml"
Pattern = str | list[str]  # a regular expression, or a list of them: any of


@dataclass(frozen=True)
class CallFacts:
    """What the rules look at, from Gong's call data and our transcript."""

    title: str
    scope: str | None
    system: str | None
    direction: str | None
    language: str | None
    duration_s: int | None
    words: int
    rep_id: str | None
    managers: frozenset[str]  # every manager above the rep
    # speakers in the transcript Gong places outside the company (Speaker.internal False);
    # None: not counted, and the title rules decide alone
    external_speakers: int | None = None
    job_role: str | None = None  # the rep's job role when the call started (None: unknown)


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: list[str] | None = None
    systems: list[str] | None = None
    directions: list[str] | None = None
    languages: list[str] | None = None
    title_matches: Pattern | None = None
    title_matches_all: list[Pattern] | None = None
    title_excludes: Pattern | None = None
    no_external_speakers: bool | None = None
    shorter_than_s: int | None = Field(default=None, gt=0)
    fewer_words_than: int | None = Field(default=None, gt=0)
    users: list[str] | None = None
    teams: list[str] | None = None

    @field_validator("title_matches", "title_excludes")
    @classmethod
    def _compiles(cls, value: Pattern | None) -> Pattern | None:
        _compile(_each(value))
        return value

    @field_validator("title_matches_all")
    @classmethod
    def _all_compile(cls, value: list[Pattern] | None) -> list[Pattern] | None:
        _compile([p for each in value or [] for p in _each(each)])
        return value

    def holds(self, f: CallFacts) -> bool:
        checks = [
            self.scope is None or f.scope in self.scope,
            self.systems is None or f.system in self.systems,
            self.directions is None or f.direction in self.directions,
            self.languages is None or f.language in self.languages,
            self.title_matches is None or _found(self.title_matches, f.title),
            self.title_matches_all is None
            or all(_found(pattern, f.title) for pattern in self.title_matches_all),
            self.title_excludes is None or not _found(self.title_excludes, f.title),
            not self.no_external_speakers or not f.external_speakers,
            self.shorter_than_s is None
            or (f.duration_s is not None and f.duration_s < self.shorter_than_s),
            self.fewer_words_than is None or f.words < self.fewer_words_than,
            self.users is None or f.rep_id in self.users,
            self.teams is None or bool(f.managers & set(self.teams)),
        ]
        return all(checks)


def _compile(patterns: list[str]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None


def _each(pattern: Pattern | None) -> list[str]:
    return [pattern] if isinstance(pattern, str) else list(pattern or [])


def _found(pattern: Pattern, title: str) -> bool:
    """Any of the patterns (a list is any of), case-insensitive, in the title's compatibility
    form: a full-width "1on1" and half-width katakana are the words the rules name."""
    folded = unicodedata.normalize("NFKC", title)
    return any(re.search(p, folded, re.I) for p in _each(pattern))


class SkipRule(Conditions):
    reason: str


class CallType(Conditions):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    dimensions: list[str] = Field(min_length=1)
    rubrics: dict[str, str] = {}  # dimension -> variant (rubrics/variants/<name>.yaml)

    @field_validator("dimensions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}; use {list(DIMENSIONS)}")
        return value


@dataclass(frozen=True)
class Decision:
    call_type: str
    dimensions: list[str]
    skipped: str | None = None  # the reason, when a skip rule matched
    variants: dict[str, str] = field(default_factory=dict)  # dimension -> rubric variant
    job_role: str | None = None  # the rep's job role the variants were chosen for


DEFAULT = CallType(name="sales", dimensions=list(DIMENSIONS))


class Applicability(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    skip: list[SkipRule] = []
    call_types: list[CallType] = []

    def dimensions_of(self, call_type: str | None) -> list[str]:
        """The dimensions a call type scores (every one for a type these rules do not name)."""
        kind = next((t for t in self.call_types if t.name == call_type), DEFAULT)
        return list(kind.dimensions)

    def decide(self, f: CallFacts, rubrics: RubricSet | None = None) -> Decision:
        """The call's type, dimensions and rubric variants: the type's, else (with `rubrics`)
        those naming the rep's job role."""
        kind = next((t for t in self.call_types if t.holds(f)), DEFAULT)
        rule = next((r for r in self.skip if r.holds(f)), None)
        skipped = rule.reason if rule else None
        variants = dict(kind.rubrics)
        if rubrics is not None and f.job_role:
            for dimension in kind.dimensions:
                by_role = rubrics.role_variant(dimension, f.job_role)
                if by_role is not None:
                    variants.setdefault(dimension, by_role)
        return Decision(kind.name, list(kind.dimensions), skipped, variants, f.job_role)

    def check_variants(self, rubrics: RubricSet) -> None:
        """Every variant a call type names exists, for the dimension it is named for."""
        for kind in self.call_types:
            for dimension, name in kind.rubrics.items():
                variant = rubrics.variants.get(name)
                if variant is None or variant.dimension != dimension:
                    raise RubricError(
                        f"{FILE}: call type {kind.name!r} names rubric variant {name!r} for"
                        f" {dimension}, but rubrics/variants/{name}.yaml is missing or is"
                        " not a rubric of that dimension"
                    )
                if variant.roles:
                    raise RubricError(
                        f"{FILE}: call type {kind.name!r} names rubric variant {name!r}, which"
                        f" names job roles {variant.roles}: a variant is for a call type or"
                        " for roles, not both"
                    )


def load(directory: Path) -> Applicability:
    """The rules beside the rubrics; every call is scored on every dimension without them."""
    path = directory / FILE
    if not path.exists():
        return Applicability(version="0.0.0")
    try:
        return Applicability.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RubricError(f"{path}: invalid applicability rules: {exc}") from None
