"""`make deploy-e2e`: the system deployed as the README's runbook tells a RevOps engineer, in
Docker, and run for a day in miniature under faults.

1. A Docker engine (started here if none runs, `docker.io` installed when missing).
2. `python:3.11-slim`: the registry's, or a local stand-in made with debootstrap when the
   registry cannot be reached, so the product Dockerfiles build unchanged.
3. Embedded Postgres over TCP, S3 (moto), the Gong and Claude stand-ins (or the Anthropic API
   from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY), a Prefect server, on the host.
4. The runbook's commands: a Docker work pool whose job template carries the secrets,
   `prefect deploy` of `analyze-calls` and `dispatch-webhook-events` from prefect.yaml (its
   migrate and build steps), a Docker worker, the webhook and the MCP server in containers of
   `Dockerfile.http`, a bearer token for Claude Desktop.
5. Checks of what was deployed: the flow image has the rubrics, migrations, prices and report
   templates; no container runs as root; the journal of paid responses is on a volume.
6. A day in miniature: signed deliveries to the containerised webhook, the dispatcher on its
   schedule, analyses in containers; one running analysis container is `docker kill`ed and
   Postgres is stopped for a few seconds; then the MCP server is asked over HTTP.

Then the analysis process of a running container with Claude requests in flight gets SIGTERM:
it must finish and record them and exit, leaving nothing in flight.

The last line is JSON: calls, analysed, parked, paid_requests (estimates included, so it equals
the server's own count: served, served_unrecorded 0 with the stand-in), killed_in_flight
(requests in flight when the container was killed, recorded as estimates) and estimated_usd,
reasked (of those, the chunks asked again: all of them), paid_twice (chunks paid more than
once, re-asks included) and paid_twice_otherwise (without a kill to explain it),
stopped_in_flight / stopped_left_in_flight, containers (flow runs that ran in containers),
image_build_s, seconds, and the checks. Exit status 1 when a call is left unanalysed or
parked, a chunk was paid twice without a kill, or a check failed.

    python -m local.deploy_e2e [--calls 30] [--deadline 900]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.config import ROOT
from local import outcome
from local.docker_host import E2E, apt_install, base_image, docker_engine, sh
from local.e2e_faults import (
    estimates,
    faults,
    journal_entries,
)
from local.pipeline import deliver, start_claude, start_gong, start_s3, wait_healthy
from local.prefect_stack import PrefectStack, prefect_stack
from local.samples import distinct_calls
from local.serve import free_port
from local.signing import GongSigner
from local.stack import DATA_DIR, GONG_KEY, GONG_SECRET, PostgresControl, start_tcp_postgres

WORK = DATA_DIR / "deploy-e2e"
FLOW_IMAGE = "sales-coach-flows"  # SALES_COACH_IMAGE (production: a registry path)
HTTP_IMAGE = "sales-coach-http:e2e"
POOL = "sales-coach-docker"
DEPLOYMENTS = (  # the runbook's: every deployment on the Docker pool
    "analyze-calls",
    "dispatch-webhook-events",
    "weekly-review",
    "health",
    "retention",
    "import-scorecards",
    "backfill",
    "analyze-batch",
)
CONTAINERS = ("sales-coach-webhook", "sales-coach-mcp")
ADMIN = "alex.kim@northwind.example"  # RevOps in the Gong stand-in's users

# What the flow needs inside its image; run there by `check_flow_image`.
IMAGE_CHECK = """
import importlib.resources as r, os, pathlib, sys
from common.rubrics import load
from common.scoring import applicability
rubrics = pathlib.Path(os.environ["RUBRICS_DIR"])
common = r.files("common")
missing = [str(p) for p in (
    common / "prices.csv", common / "migrations" / "0001_first_release.sql",
    common / "reports" / "templates", rubrics / "applicability.yaml",
    rubrics / "knowledge_base") if not p.exists()]
if missing:
    sys.exit("missing: " + ", ".join(missing))
rules = load(rubrics)
applicability.load(rubrics)
print(os.getuid(), os.environ["JOURNAL_DIR"], len(rules.rubrics))
"""


# -- 3. the services on the host, and 4. the runbook ------------------------------------------


def e2e_prefect_file(local_base: bool) -> Path:
    """prefect.yaml with this run's differences, and only those: no push (the image stays in
    this engine), builds and containers on the host network, and with a local stand-in base
    no pull of it before the build."""
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for d in spec["deployments"]:
        if d["name"] not in DEPLOYMENTS:
            continue
        d.pop("push", None)
        for step in d.get("build") or []:
            for name, args in step.items():
                if name.endswith("build_docker_image"):
                    args["network_mode"] = "host"
                    if local_base:
                        args["pull"] = False
        variables = d["work_pool"]["job_variables"]
        variables.setdefault("container_create_kwargs", {})["network_mode"] = "host"
    path = WORK / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def work_pool(prefect: PrefectStack, secrets: dict[str, str]) -> None:
    """The runbook's pool: a Docker work pool whose job template carries the secrets, made
    with the runbook's commands (`jq` included)."""
    apt_install("jq", "jq")
    default = WORK / "docker-pool.json"
    default.write_text(
        prefect.cli("work-pool", "get-default-base-job-template", "--type", "docker").stdout
    )
    (WORK / "secrets.json").write_text(json.dumps(secrets))
    filled = sh(
        "jq",
        "--slurpfile",
        "env",
        str(WORK / "secrets.json"),
        ".variables.properties.env.default = $env[0]",
        str(default),
    )
    path = WORK / "docker-pool.secrets.json"
    path.write_text(filled)
    prefect.cli(
        "work-pool",
        "create",
        POOL,
        "--type",
        "docker",
        "--base-job-template",
        str(path),
        "--overwrite",
    )
    prefect.cli("work-pool", "set-concurrency-limit", POOL, "4")


def deploy(e: E2E, prefect: PrefectStack) -> float:
    """`prefect deploy` with prefect.yaml's migrate and build steps; seconds it took."""
    started = time.monotonic()
    names = [a for n in DEPLOYMENTS for a in ("--name", n)]
    local_base = e.notes["base_image"].startswith("a local stand-in")
    prefect.cli("deploy", "--prefect-file", str(e2e_prefect_file(local_base)), *names, timeout=1200)
    return time.monotonic() - started


def run_container(name: str, env: dict[str, str], *command: str) -> None:
    """`docker run -d --env-file NAME.env IMAGE ...` as the runbook runs it (host network
    here instead of `-p`)."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    env_file = WORK / f"{name}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    sh(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--env-file",
        str(env_file),
        HTTP_IMAGE,
        *command,
    )


def cli(env: dict[str, str], *args: str) -> str:
    """`sales-coach ...` as the runbook runs it: from the flow image, with the pool's secrets."""
    flags = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    image = f"{FLOW_IMAGE}:latest"
    return sh("docker", "run", "--rm", "--network", "host", *flags, image, "sales-coach", *args)


# -- 5. checks of what was deployed -----------------------------------------------------------


def check_flow_image(e: E2E) -> None:
    image = f"{FLOW_IMAGE}:latest"
    out = sh("docker", "run", "--rm", "--network", "host", image, "python", "-c", IMAGE_CHECK)
    uid, journal, dimensions = out.split()
    e.checks["flow_image_has_its_files"] = dimensions == "4"
    e.checks["flow_image_not_root"] = uid != "0"
    e.notes["journal_dir"] = journal


def containers_started(since: float) -> int:
    """Distinct flow runs that started a container since `since` (epoch seconds)."""
    out = sh(
        "docker",
        "events",
        "--since",
        str(int(since)),
        "--until",
        str(int(time.time())),
        "--filter",
        "type=container",
        "--filter",
        "event=start",
        "--filter",
        "label=io.prefect.flow-run-id",
        "--format",
        '{{index .Actor.Attributes "io.prefect.flow-run-id"}}',
    )
    return len(set(out.split()))


def ask_mcp(url: str, token: str) -> int:
    """Calls the remote MCP server lists for an admin (over HTTP with a bearer token)."""
    import asyncio

    from fastmcp import Client

    async def go() -> int:
        async with Client(url, auth=token) as client:
            page = await client.call_tool("search_calls", {"page_size": 100})
            return int(page.structured_content["total"])  # type: ignore[index]

    return asyncio.run(go())


@dataclass
class Services:
    """What runs on the host for the run, and how the containers reach it."""

    postgres: PostgresControl
    db_url: str
    prefect: PrefectStack
    secrets: dict[str, str]  # the pool's job template carries these, as the runbook says
    signer: GongSigner
    webhook_port: int
    mcp_port: int
    stand_in: Any = None  # local.anthropic_server.StandInState, None against a real API

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/webhooks/gong"

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"


# minutes of production behaviour in a few here, as bench/chaos.py does
SHORTENED = {
    "MAX_CALLS_IN_FLIGHT": "32",  # the day's 30 calls in one dispatcher pass
    "CALLS_PER_RUN": "8",
    "CLAUDE_CLAIM_LEASE_S": "15",
    "ANALYSIS_RETRY_BASE_S": "5",
    "ANALYSIS_RETRY_MAX_S": "20",
    "ANALYSIS_RUN_DEADLINE_S": "150",
    "ANALYSIS_DRAIN_S": "30",  # the SIGTERM'd container is waited for 45 s
    "DB_OUTAGE_WAIT_S": "60",
    "MONTHLY_BUDGET_USD": "1000",
}


def start_services(e: E2E, stack: ExitStack, calls: list[dict[str, Any]]) -> Services:
    """Postgres on TCP, S3, the Gong and Claude stand-ins (or ANTHROPIC_BASE_URL), Prefect."""
    postgres = start_tcp_postgres(WORK / "postgres", free_port())
    stack.callback(postgres.stop)
    db_url = postgres.tcp_uri("postgres")
    s3_endpoint, gong_url = start_s3(stack), start_gong(stack, calls)
    stand_in = {"fail_rate": 0.05, "latency_s": 1.0, "generation_s": 2.0}
    claude_url, claude_key, state = start_claude(stack, stand_in)
    e.notes["claude"] = claude_url if state is None else "the local Anthropic-compatible stand-in"
    secrets = {
        "DATABASE_URL": db_url,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET": "sales-coach-e2e",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "GONG_BASE_URL": gong_url,
        "GONG_ACCESS_KEY": GONG_KEY,
        "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
        "ANTHROPIC_BASE_URL": claude_url,
        "ANTHROPIC_API_KEY": claude_key,
        **SHORTENED,
    }
    host_env = {  # `prefect deploy` runs the migrate step (`sales-coach init-db`) here
        **secrets,
        "SALES_COACH_IMAGE": FLOW_IMAGE,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    prefect = stack.enter_context(prefect_stack(WORK / "prefect", host_env))
    e.log(f"Postgres on TCP ({db_url}), S3, Gong and Claude stand-ins, Prefect {prefect.api_url}")
    return Services(
        postgres, db_url, prefect, secrets, GongSigner(), free_port(), free_port(), state
    )


def runbook(e: E2E, svc: Services, stack: ExitStack, summary: dict[str, Any]) -> None:
    """Steps 4 to 7 of the README's runbook, and the checks of what they deployed."""
    work_pool(svc.prefect, svc.secrets)
    build_s = deploy(e, svc.prefect)
    e.log(f"prefect deploy (migrate, build {FLOW_IMAGE}) took {build_s:.0f}s")
    started = time.monotonic()
    sh("docker", "build", "--network", "host", "-f", "Dockerfile.http", "-t", HTTP_IMAGE, ".")
    summary["image_build_s"] = round(build_s + time.monotonic() - started, 1)
    check_flow_image(e)
    http_env = {**svc.secrets, "PREFECT_API_URL": svc.prefect.api_url}
    webhook_env = {
        "PORT": str(svc.webhook_port),
        "GONG_WEBHOOK_PUBLIC_KEYS": svc.signer.public_key_b64_der,
        "GONG_WEBHOOK_URL": svc.webhook_url,
    }
    run_container(CONTAINERS[0], {**http_env, **webhook_env})
    mcp_env = {"PORT": str(svc.mcp_port), "MCP_AUTH": "tokens"}
    run_container(CONTAINERS[1], {**http_env, **mcp_env}, "sales-coach-http", "mcp")
    for name in CONTAINERS:
        stack.callback(subprocess.run, ["docker", "rm", "-f", name], capture_output=True)
    wait_healthy(f"http://127.0.0.1:{svc.webhook_port}/healthz", 60)
    wait_healthy(f"http://127.0.0.1:{svc.mcp_port}/healthz", 60)
    users = json.loads(sh("docker", "inspect", *CONTAINERS))
    e.checks["http_containers_not_root"] = all(
        (u["Config"].get("User") or "root").split(":")[0] not in ("root", "0") for u in users
    )
    cli(svc.secrets, "sync-users")  # users from Gong, then who is an admin
    cli(svc.secrets, "set-role", ADMIN, "admin")
    svc.prefect.start_worker("docker-worker-1", pool=POOL)
    e.log("webhook and MCP server up in containers; a Docker worker polls the pool")


def day(e: E2E, svc: Services, calls: list[dict[str, Any]], deadline_s: float) -> dict[str, Any]:
    """Deliveries, the dispatcher on its schedule, analyses in containers, the faults; then
    what happened, and the MCP server asked with a new token."""
    out: dict[str, Any] = {}
    since, start = time.time(), time.monotonic()
    stop = threading.Event()
    chaos = threading.Thread(
        target=faults,
        args=(
            e,
            svc.postgres,
            svc.db_url,
            out,
            stop,
            FLOW_IMAGE,
            float(SHORTENED["ANALYSIS_DRAIN_S"]),
        ),
        daemon=True,
    )
    chaos.start()
    out.update(deliver(svc.signer, svc.webhook_url, calls, repeats=0.1, pause_s=0.3))
    e.log(f"delivered {out['delivered']} signed webhooks ({out['retried']} retried)")
    out["settled"] = outcome.settle(
        svc.db_url, svc.prefect.api_url, len(calls), start + deadline_s, e.log
    )
    stop.set()
    chaos.join(timeout=30)
    e.checks["faults_injected"] = out.get("killed_containers") == 1 and "postgres_stopped_s" in out
    out.update(outcome.results(svc.db_url))
    killed = out.pop("_killed_keys", [])
    out.update(estimates(svc.db_url, killed))
    e.checks["killed_in_flight_recorded_once"] = (  # one row per request the victim held
        out["killed_keys_estimated"] + out["killed_keys_answered"] == len(killed)
        and out["killed_keys_estimated"] == out["killed_in_flight"] == out["reasked"]
    )
    out["containers"] = containers_started(since)
    if svc.stand_in is not None:  # responses billed that no row records (estimates included)
        out["served"] = len(svc.stand_in.responses)
        out["served_unrecorded"] = out["served"] - out["paid_requests"]
    out["journal_left"] = journal_entries(FLOW_IMAGE)
    created = cli(svc.secrets, "token", "create", "--user", ADMIN, "--label", "claude-desktop")
    token = json.loads(created)["token"]
    desktop = cli(svc.secrets, "claude-desktop-config", "--remote", svc.mcp_url, "--token", token)
    e.checks["claude_desktop_config_names_the_server"] = svc.mcp_url in desktop
    out["mcp_calls_listed"] = ask_mcp(svc.mcp_url, token)
    out["http_health"] = {  # the image's HEALTHCHECK, as Docker ran it during the day
        name: sh("docker", "inspect", "-f", "{{.State.Health.Status}}", name).strip()
        for name in CONTAINERS
    }
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--deadline", type=float, default=900, help="seconds to settle")
    args = ap.parse_args()
    e = E2E()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    summary: dict[str, Any] = {"calls": args.calls}
    docker_engine(e)
    base_image(e)
    e.log(f"engine: {e.notes['engine']}; base: {e.notes['base_image']}")
    calls = distinct_calls(args.calls, prefix="95")
    with ExitStack() as stack:
        svc = start_services(e, stack, calls)
        runbook(e, svc, stack, summary)
        summary.update(day(e, svc, calls, args.deadline))
    summary["checks"] = e.checks
    summary["settings_of_this_run"] = {**e.notes, **DIFFERENCES}
    print(json.dumps(summary), flush=True)
    good = (
        summary["settled"]
        and summary["analysed"] == args.calls
        and summary["parked"] == 0
        and summary["paid_twice_otherwise"] == 0  # a chunk paid twice only after a kill
        and len(e.checks) >= 7
        and all(e.checks.values())
    )
    return 0 if good else 1


DIFFERENCES = {  # from the production path, beside those in E2E.notes
    "push": "skipped: the flow image stays in this engine (production pushes it to the"
    " registry in SALES_COACH_IMAGE)",
    "network": "builds and every container on the host network",
    "postgres": "embedded, over TCP on 127.0.0.1 with trust authentication",
    "gong_and_s3": "the Gong stand-in and moto's S3 server",
}


if __name__ == "__main__":
    sys.exit(main())
