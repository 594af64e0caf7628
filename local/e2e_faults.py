"""The faults of `make deploy-e2e`'s day, and what they leave: a running analysis container
`docker kill`ed while Postgres is away (its journaled responses and the requests it had in
flight must be recorded once, the latter as estimates), and one with requests in flight
stopped with SIGTERM (it must finish and record them, leaving nothing in flight). What each
container holds is read from the journal volume's file locks (/proc/locks and the holder's
cgroup), so nothing inside the containers is asked."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from local.docker_host import E2E, sh
from local.stack import PostgresControl

JOURNAL_VOLUME = "sales-coach-journal"  # prefect.yaml's job variables mount it


def inspect_flow_container(e: E2E, container: str) -> None:
    """A flow-run container as the worker made it: not root, the journal on a volume."""
    found = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        return  # already gone (auto_remove)
    info = json.loads(found.stdout)[0]
    user = info["Config"].get("User") or "root"
    journal = e.notes.get("journal_dir", "/var/lib/sales-coach/journal")
    on_volume = any(
        m.get("Type") == "volume" and m.get("Destination") == journal for m in info["Mounts"]
    )
    e.checks["flow_containers_not_root"] = e.checks.get("flow_containers_not_root", True) and (
        user.split(":")[0] not in ("root", "0")
    )
    e.checks["journal_on_a_volume"] = e.checks.get("journal_on_a_volume", True) and on_volume


def flow_containers(deployment: str | None = None) -> list[str]:
    args = ["docker", "ps", "-q", "--filter", "label=io.prefect.flow-run-id"]
    if deployment:
        args += ["--filter", f"label=io.prefect.deployment-name={deployment}"]
    return sh(*args).split()


# -- 6. the day in miniature ------------------------------------------------------------------


def paid(db_url: str) -> int:
    """Responses recorded so far (0 while Postgres does not answer)."""
    import psycopg

    try:
        with psycopg.connect(db_url, connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM claude_usage").fetchone()
    except psycopg.OperationalError:
        return 0
    return int(row[0]) if row else 0


def held_files(pattern: str) -> dict[str, set[tuple[Path, int]]]:
    """Per container id, the files of the journal volume matching `pattern` whose lock a
    process of that container holds: a paid response not in Postgres yet (`*.json`), or a
    request in flight (`*.intent`), with the holder's pid (in this host's namespace). Found
    through /proc/locks and the holder's cgroup; the volume is a directory of this host."""
    try:
        mount = sh("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", JOURNAL_VOLUME)
        files = {f.stat().st_ino: f for f in Path(mount.strip()).rglob(pattern)}
        locks = Path("/proc/locks").read_text().splitlines()
    except (RuntimeError, OSError):  # no volume yet, or an entry gone while listing
        return {}
    holders: dict[str, set[tuple[Path, int]]] = {}
    for line in locks:
        parts = line.split()  # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in line:
            continue
        inode = parts[5].rsplit(":", 1)[-1]
        if inode.isdigit() and int(inode) in files:
            try:
                cgroup = Path(f"/proc/{parts[4]}/cgroup").read_text()
            except OSError:
                continue
            found = re.search(r"docker[/-]([0-9a-f]{64})", cgroup)
            if found:
                holders.setdefault(found.group(1), set()).add((files[int(inode)], int(parts[4])))
    return holders


def journal_holders() -> set[str]:
    """Ids of the containers holding a paid response that is not in Postgres yet."""
    return set(held_files("*.json"))


def in_flight(container: str) -> dict[str, int]:
    """Keys of the Claude requests a container has in flight (intents it holds), and the pid
    of the process sending each."""
    held = held_files("*.intent")
    return {p.stem: pid for c, files in held.items() if c.startswith(container) for p, pid in files}


def intents_on_disk(keys: set[str]) -> set[str]:
    """Those of `keys` whose intent is still in the journal volume (not yet recorded)."""
    try:
        mount = sh("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", JOURNAL_VOLUME)
    except RuntimeError:
        return set()
    return {p.stem for p in Path(mount.strip()).rglob("*.intent")} & keys


def kill_a_journal_holder(e: E2E, summary: dict[str, Any], stopped: float, image: str) -> None:
    """`docker kill` the running analysis container that holds a journaled response (within
    10 s of Postgres stopping; else any running analysis container), and count what the
    journal volume holds after it: responses, and the requests it had in flight (their
    intents, recorded as estimates once another container flushes the journal)."""
    victim, holding = None, False
    while time.monotonic() < stopped + 12 and victim is None:
        running = flow_containers("analyze-calls")
        held = [c for c in running if any(h.startswith(c) for h in journal_holders())]
        if held or (running and time.monotonic() > stopped + 10):
            victim, holding = (held or running)[0], bool(held)
        time.sleep(0.5)
    if victim:
        inspect_flow_container(e, victim)
        flying = in_flight(victim)
        subprocess.run(["docker", "kill", victim], capture_output=True, check=False)
        left = intents_on_disk(set(flying))  # what the victim held: in flight when it died
        summary["killed_containers"] = 1
        summary["killed_holding_journal"] = holding
        summary["_killed_keys"] = sorted(left)
        summary["in_flight_at_kill"] = len(left)
        e.log(
            f"docker kill {victim[:12]} while Postgres is away (journal held: {holding},"
            f" requests in flight: {len(left)})"
        )
    summary["journal_after_kill"] = journal_entries(image)


def stop_a_requesting_container(
    e: E2E, summary: dict[str, Any], db_url: str, drain_s: float
) -> None:
    """SIGTERM the analysis process of a running container that has Claude requests in flight
    (as a deploy, a scale-in or a spot notice would): it must finish and record them and exit
    within ANALYSIS_DRAIN_S, leaving no intent behind and no estimate. The signal goes to the
    process that sends the requests (found by the intents it holds): `docker stop` signals
    the container's first process, Prefect's `flow-run execute` supervisor, which runs the
    flow in a child."""
    deadline, victim, flying = time.monotonic() + 120, None, {}
    while time.monotonic() < deadline and victim is None:
        for c in flow_containers("analyze-calls"):
            if flying := in_flight(c):
                victim = c
                break
        time.sleep(0.2)
    if victim is None:
        e.log("no analysis container with requests in flight to stop")
        return
    started = time.monotonic()
    for pid in set(flying.values()):
        os.kill(pid, signal.SIGTERM)
    waited = subprocess.run(
        ["timeout", str(int(drain_s + 15)), "docker", "wait", victim],
        capture_output=True,
        check=False,
    )
    if waited.returncode == 124:  # not out in time: the check below fails
        subprocess.run(["docker", "kill", victim], capture_output=True, check=False)
    keys = set(flying)
    left = intents_on_disk(keys)
    recorded = usage_of(db_url, keys)
    summary["stopped_containers"] = 1
    summary["stopped_in_flight"] = len(keys)
    summary["stopped_left_in_flight"] = len(left)
    summary["stopped_s"] = round(time.monotonic() - started, 1)
    e.checks["sigterm_leaves_nothing_in_flight"] = (
        waited.returncode != 124
        and not left
        and recorded == {"recorded": len(keys), "estimated": 0}
    )
    e.log(
        f"SIGTERM to {victim[:12]} with {len(keys)} requests in flight: {len(left)} left,"
        f" {recorded} in the ledger, out in {summary['stopped_s']}s"
    )


def usage_of(db_url: str, keys: set[str]) -> dict[str, int]:
    """Usage rows of these requests (by their key), recorded and estimated."""
    import psycopg

    with psycopg.connect(db_url, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT estimated), count(*) FILTER (WHERE estimated)"
            " FROM claude_usage WHERE intent_id = ANY(%s)",
            (sorted(keys),),
        ).fetchone()
    return {"recorded": int(row[0]), "estimated": int(row[1])} if row else {}


def estimates(db_url: str, killed: list[str]) -> dict[str, Any]:
    """killed_in_flight (estimated usage rows: requests in flight when a container was killed),
    the spend estimated for them, how many of them were the killed container's, reasked (of
    those, the chunks asked again), and paid_twice_otherwise (a chunk paid twice with no kill
    to explain it)."""
    import psycopg

    queries = {
        "killed_in_flight": "SELECT count(*) FROM claude_usage WHERE estimated",
        "estimated_usd": "SELECT coalesce(sum(usd), 0)::float FROM claude_usage WHERE estimated",
        "killed_keys_estimated": "SELECT count(*) FROM claude_usage WHERE estimated"
        " AND intent_id = ANY(%(killed)s)",
        # held at the kill with their response already journalled (Postgres was away)
        "killed_keys_answered": "SELECT count(*) FROM claude_usage WHERE NOT estimated"
        " AND intent_id = ANY(%(killed)s)",
        "reasked": "SELECT count(*) FROM claude_usage e WHERE e.estimated AND EXISTS (SELECT 1"
        " FROM claude_usage u WHERE NOT u.estimated AND u.call_id = e.call_id AND"
        " u.dimension = e.dimension AND u.chunk_index = e.chunk_index AND u.purpose = e.purpose)",
        "paid_twice_otherwise": "SELECT count(*) FROM (SELECT 1 FROM claude_usage WHERE NOT"
        " estimated GROUP BY call_id, dimension, chunk_index, purpose HAVING count(*) > 1) x",
    }
    with psycopg.connect(db_url) as conn:
        return {
            k: conn.execute(q, {"killed": killed}).fetchone()[0]  # type: ignore[index]
            for k, q in queries.items()
        }


def faults(
    e: E2E,
    postgres: PostgresControl,
    db_url: str,
    summary: dict[str, Any],
    stop: threading.Event,
    image: str,
    drain_s: float,
) -> None:
    """Once analyses run: stop Postgres, and while it is away `docker kill` a running analysis
    container that holds a paid response in the journal (the guarantee under test: it must
    reach Postgres once, from another container, and its requests in flight be recorded as
    estimates); start Postgres again; then `docker stop` a container with requests in flight
    (they must be drained: recorded, none left). Every flow container seen meanwhile is
    inspected."""
    done = False
    while not stop.is_set():
        for c in flow_containers():
            inspect_flow_container(e, c)
        if not done and flow_containers("analyze-calls") and paid(db_url) >= 8:
            e.log("stopping Postgres while responses are arriving")
            postgres.stop()
            stopped = time.monotonic()
            try:
                kill_a_journal_holder(e, summary, stopped, image)
            finally:  # whatever happened, Postgres comes back
                time.sleep(max(0.0, stopped + 6 - time.monotonic()))
                postgres.start()
            summary["postgres_stopped_s"] = round(time.monotonic() - stopped, 1)
            e.log(f"Postgres is back; {summary.get('journal_after_kill')} entries in the journal")
            stop_a_requesting_container(e, summary, db_url, drain_s)
            done = True
        time.sleep(1)


def journal_entries(image: str) -> int:
    """Paid responses left in the journal volume (0: every one reached Postgres), counted in a
    container of the flow `image`, which mounts it as the flows do."""
    found = sh(
        "docker",
        "run",
        "--rm",
        "-v",
        f"{JOURNAL_VOLUME}:/j",
        f"{image}:latest",
        "sh",
        "-c",
        "find /j -name '*.json' | wc -l",
    )
    return int(found.strip())
