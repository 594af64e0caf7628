"""Offline validation of the deployment artefacts: prefect.yaml, template.yaml, Dockerfiles.

    python -m local.deploy_check        # or: make deploy-check

prefect.yaml must load, every entrypoint must import to a Prefect flow, every parameter must be
one the flow takes, schedules must parse, each deployment names a known work pool (Docker ones
with an image built from an existing Dockerfile). template.yaml must parse (CloudFormation tags
included), every function's handler must import, and every Dockerfile it names must exist.
Exit code 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import yaml

from common.config import ROOT

REQUIRED = {"analyze-calls", "dispatch-webhook-events", "weekly-review", "backfill"}
POOLS = {"sales-coach-docker": "docker", "local": "process"}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as data."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"Fn::{suffix}" if suffix not in ("Ref", "Condition") else suffix: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def _import_attr(dotted: str, root: Path) -> Any:
    module, _, attr = dotted.rpartition(".")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return getattr(importlib.import_module(module), attr)


def check_prefect(path: Path, root: Path) -> list[str]:
    from prefect import Flow
    from prefect.client.schemas.schedules import CronSchedule

    problems: list[str] = []
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path.name}: does not load: {exc}"]
    deployments = config.get("deployments") or []
    names = [d.get("name") for d in deployments]
    if len(names) != len(set(names)):
        problems.append(f"{path.name}: deployment names repeat")
    problems += [f"{path.name}: missing deployment {n}" for n in sorted(REQUIRED - set(names))]
    for d in deployments:
        where = f"{path.name}: deployment {d.get('name')}"
        file, _, func = str(d.get("entrypoint", "")).partition(":")
        if not (root / file).is_file() or not func:
            problems.append(
                f"{where}: entrypoint {d.get('entrypoint')!r} does not name a file and a flow"
            )
            continue
        try:
            flow = _import_attr(file.removesuffix(".py").replace("/", ".") + "." + func, root)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where}: entrypoint {d['entrypoint']} does not import: {exc}")
            continue
        if not isinstance(flow, Flow):
            problems.append(f"{where}: {d['entrypoint']} is not a Prefect flow")
            continue
        accepted = set(inspect.signature(flow.fn).parameters)
        problems += [
            f"{where}: parameter {p!r} is not a parameter of {func}"
            for p in (d.get("parameters") or {})
            if p not in accepted
        ]
        for schedule in d.get("schedules") or []:
            if "cron" in schedule:
                try:
                    CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone"))
                except ValueError as exc:
                    problems.append(f"{where}: schedule {schedule['cron']!r} is invalid: {exc}")
        pool = (d.get("work_pool") or {}).get("name")
        if pool not in POOLS:
            problems.append(f"{where}: work pool {pool!r} is not one of {sorted(POOLS)}")
        elif POOLS[pool] == "docker":
            problems += _check_docker(d, where, root)
    return problems


def _check_docker(d: dict[str, Any], where: str, root: Path) -> list[str]:
    problems = []
    if not (d["work_pool"].get("job_variables") or {}).get("image"):
        problems.append(f"{where}: Docker work pool deployment without job_variables.image")
    builds = [step for step in d.get("build") or [] if any("build_docker_image" in k for k in step)]
    if not builds:
        problems.append(f"{where}: Docker work pool deployment without a build_docker_image step")
    volumes = d["work_pool"].get("job_variables", {}).get("volumes") or []
    for step in builds:
        dockerfile = next(iter(step.values())).get("dockerfile", "Dockerfile")
        if not (root / dockerfile).is_file():
            problems.append(f"{where}: Dockerfile {dockerfile} does not exist")
            continue
        problems += [
            f"{where}: {dockerfile}: {p}"
            for p in check_flow_dockerfile((root / dockerfile).read_text(), volumes)
        ]
    return problems


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions:
        if word == "ENV":
            for pair in rest.split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _runs_as_root(instructions: list[tuple[str, str]]) -> bool:
    users = [rest.split(":")[0] for word, rest in instructions if word == "USER"]
    return not users or users[-1] in ("root", "0")


def check_flow_dockerfile(text: str, volumes: list[str]) -> list[str]:
    """What a flow run needs of its image: the rubrics copied where RUBRICS_DIR points, the
    package installed (migrations, prices, templates are its package data), an unprivileged
    user, and JOURNAL_DIR on a volume the job template mounts (else a journaled response dies
    with its container)."""
    steps = _instructions(text)
    env = _env(steps)
    problems = []
    rubrics = env.get("RUBRICS_DIR", "")
    if not any(w == "COPY" and r.split()[0] == "rubrics" for w, r in steps if r) or not rubrics:
        problems.append("does not copy rubrics/ to RUBRICS_DIR")
    if not any(w == "RUN" and "pip install ." in r for w, r in steps):
        problems.append("does not pip install the package (migrations, prices, templates)")
    if _runs_as_root(steps):
        problems.append("runs as root: add an unprivileged USER")
    journal = env.get("JOURNAL_DIR")
    if not journal:
        problems.append("sets no JOURNAL_DIR")
    elif not any(v.split(":")[1:2] == [journal] for v in volumes):
        problems.append(
            f"the journal (JOURNAL_DIR={journal}) is on the container's own disk: mount a"
            " volume there (job_variables.volumes)"
        )
    return problems


def check_http_dockerfile(path: Path) -> list[str]:
    """The HTTP functions image: an unprivileged user and a health check."""
    if not path.is_file():
        return [f"{path.name} does not exist"]
    steps = _instructions(path.read_text())
    problems = []
    if _runs_as_root(steps):
        problems.append(f"{path.name}: runs as root: add an unprivileged USER")
    if not any(w == "HEALTHCHECK" for w, _ in steps):
        problems.append(f"{path.name}: has no HEALTHCHECK")
    return problems


def check_template(path: Path, root: Path) -> list[str]:
    try:
        template = yaml.load(path.read_text(), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path.name}: does not parse: {exc}"]
    problems = []
    resources = template.get("Resources") or {}
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    if not functions:
        problems.append(f"{path.name}: no functions")
    for name, fn in functions.items():
        props = fn.get("Properties") or {}
        command = (props.get("ImageConfig") or {}).get("Command") or [props.get("Handler")]
        handler = command[0] if command else None
        try:
            if not handler or not callable(_import_attr(handler, root)):
                problems.append(f"{path.name}: {name}: handler {handler!r} is not callable")
        except (ImportError, AttributeError) as exc:
            problems.append(f"{path.name}: {name}: handler {handler!r} does not import: {exc}")
        dockerfile = (fn.get("Metadata") or {}).get("Dockerfile")
        if props.get("PackageType") == "Image" and not (
            dockerfile and (root / dockerfile).is_file()
        ):
            problems.append(f"{path.name}: {name}: Dockerfile {dockerfile!r} does not exist")
    buckets = [v for v in resources.values() if v.get("Type") == "AWS::S3::Bucket"]
    if not any((b.get("Properties") or {}).get("LifecycleConfiguration") for b in buckets):
        problems.append(f"{path.name}: the report bucket has no lifecycle rules")
    return problems


def cfn_lint(path: Path) -> list[str]:
    """cfn-lint's findings on the SAM template (it applies the transform offline)."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    if not Path(exe).exists():
        return ["cfn-lint is not installed (pip install -e '.[dev]')"]
    done = subprocess.run([exe, "--format", "parseable", str(path)], capture_output=True, text=True)
    if done.returncode == 0:
        return []
    found = [line for line in done.stdout.splitlines() if line.strip()]
    return [f"{path.name}: cfn-lint: {line}" for line in found] or [done.stderr.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefect-file", type=Path, default=ROOT / "prefect.yaml")
    ap.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    ap.add_argument("--root", type=Path, default=ROOT)
    args = ap.parse_args(argv)
    problems = (
        check_prefect(args.prefect_file, args.root)
        + check_http_dockerfile(args.root / "Dockerfile.http")
        + check_template(args.template, args.root)
        + cfn_lint(args.template)
    )
    for p in problems:
        print(f"deploy-check: {p}")
    if not problems:
        print(
            f"deploy-check: {args.prefect_file.name} and {args.template.name} are valid"
            " (cfn-lint clean)"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
