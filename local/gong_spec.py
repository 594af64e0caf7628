"""Gong's published OpenAPI 3.0 description of API v2 as JSON Schemas, to check traffic against.

`docs/gong/gong-openapi-v2.json` is Gong's own spec (see docs/gong/README.md). OpenAPI 3.0
schemas are close to JSON Schema but not the same, so each schema is converted before use:
`$ref`s are inlined, `nullable: true` becomes a null type (and without it null is refused, as in
Gong's schemas: an optional field is absent, never null), `format: int32/int64` become the
integer's bounds, and keywords JSON Schema does not know (`example`, `exampleSetFlag`, ...) are
dropped. A few places where the spec contradicts itself are listed in `ERRATA`.

Used by the contract tests (tests/test_gong_contract.py) and by anything that wants to check
recorded Gong traffic from outside (the stand-in records it: `GongState.traffic`).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "gong" / "gong-openapi-v2.json"

INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
KEPT = {
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
}
FORMATS = {"date-time", "date"}  # string formats checked; others (e.g. "url") are free text
# Components whose declared schema contradicts the spec's own examples and descriptions:
# a CRM field's `value` is Java's `Object` (a string, number, ... per the example "Gong Inc."),
# not a JSON object.
ERRATA: dict[str, dict[str, dict[str, Any]]] = {
    "ContextField": {"value": {}},
    "PartyContextField": {"value": {}},
}


class GongSpec:
    """One operation's request and response schemas, converted, by method and path."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.raw: dict[str, Any] = json.loads(path.read_text())
        self._components: dict[str, Any] = self.raw["components"]["schemas"]

    def requiring(self, needed: dict[str, list[str]]) -> GongSpec:
        """A copy whose components also require `needed` fields (by component name): the spec
        marks no response field required; these are the ones a reader says it relies on."""
        other = copy.copy(self)
        other._components = copy.deepcopy(self._components)
        for name, fields in needed.items():
            other._components[name]["required"] = sorted(set(fields))
        return other

    def operation(self, method: str, path: str) -> dict[str, Any]:
        op = self.raw["paths"].get(path, {}).get(method.lower())
        if op is None:
            raise KeyError(f"Gong's spec has no {method.upper()} {path}")
        return dict(op)

    def component(self, name: str) -> dict[str, Any]:
        """A component schema, converted (refs inlined)."""
        return dict(self.convert({"$ref": f"#/components/schemas/{name}"}))

    def request_schema(self, method: str, path: str) -> dict[str, Any] | None:
        body = self.operation(method, path).get("requestBody")
        if body is None:
            return None
        return dict(self.convert(body["content"]["application/json"]["schema"]))

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any]:
        responses = self.operation(method, path)["responses"]
        response = responses.get(str(status)) or responses.get("default")
        if response is None:
            raise KeyError(f"Gong's spec has no HTTP {status} for {method.upper()} {path}")
        content = (response.get("content") or {}).get("application/json")
        return dict(self.convert(content["schema"])) if content else {}

    def query_parameters(self, method: str, path: str) -> dict[str, dict[str, Any]]:
        params = self.operation(method, path).get("parameters") or []
        return {p["name"]: self.convert(p["schema"]) for p in params if p.get("in") == "query"}

    def request_errors(
        self, method: str, path: str, body: Any, query: dict[str, str] | None = None
    ) -> list[str]:
        """Why a request we send is not one the spec allows ([] when it is)."""
        errors: list[str] = []
        schema = self.request_schema(method, path)
        if schema is None and body is not None:
            errors.append(f"{method} {path}: the spec takes no body")
        elif schema is not None:
            errors += errors_of(schema, body)
        known = self.query_parameters(method, path)
        for name, value in (query or {}).items():
            if name not in known:
                errors.append(f"{method} {path}: unknown query parameter {name!r}")
            elif known[name].get("type") == "string":
                errors += errors_of(known[name], value)
        return errors

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Why a response is not one the spec allows ([] when it is)."""
        try:
            schema = self.response_schema(method, path, status)
        except KeyError as exc:
            return [str(exc)]
        return errors_of(schema, body)

    def convert(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        """An OpenAPI 3.0 schema as a self-contained JSON Schema (draft 7)."""
        if isinstance(node, list):
            return [self.convert(n, stack) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in stack:  # a recursive schema: anything deeper is accepted
                return {}
            schema = self.convert(self._components[name], (*stack, name))
            for prop, replacement in ERRATA.get(name, {}).items():
                schema["properties"][prop] = copy.deepcopy(replacement)
            return schema
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in KEPT:
                continue
            if key == "properties":
                out[key] = {k: self.convert(v, stack) for k, v in value.items()}
            elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
                out[key] = self.convert(value, stack)
            elif key == "format":
                if value in INT_BOUNDS and node.get("type") == "integer":
                    low, high = INT_BOUNDS[value]
                    out.setdefault("minimum", max(low, node.get("minimum", low)))
                    out.setdefault("maximum", min(high, node.get("maximum", high)))
                elif value in FORMATS:
                    out[key] = value
            else:
                out[key] = copy.deepcopy(value)
        if node.get("nullable") is True:
            if "type" in out:
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out


def errors_of(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema`, with the path to it."""
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: str(list(e.absolute_path)))
    ]


@cache
def spec() -> GongSpec:
    return GongSpec()
