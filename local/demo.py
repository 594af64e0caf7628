"""`make demo`: the whole pipeline on embedded defaults, no account and no key.

Brings up Postgres, S3 (moto), the Gong and Claude stand-ins; starts the webhook function;
posts the sample calls as signed Gong deliveries (plus a duplicate, a test delivery and a
forged one); dispatches the stored events to the analyze-call flow; prints each call's scores,
evidence, metrics and cost; then analyses everything again to show the cache: $0, no requests;
writes the weekly reviews; and asks the MCP server what a manager (and a rep) would ask from
Claude Desktop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date, timedelta
from typing import Any

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import httpx

from common.calls import roles
from common.calls.store import upsert_users
from common.config import Settings, load_settings
from common.db import connect
from common.gong import GongClient
from common.scoring import analysed, costs, current_for_call, load_applicability
from common.storage import ObjectStore
from local.inprocess import InProcessRuns
from local.samples import sample_calls, webhook_payload
from local.serve import free_port, serve
from local.signing import GongSigner
from local.stack import DATA_DIR, Stack, local_stack

BANNER = """
==============================================================================
  DEMO MODE: Claude is the local stand-in server. Scores, quotes and coaching
  notes below are PLACEHOLDERS drawn at random from the transcript, not real
  model judgements. Token counts and costs follow the real API's rules.
==============================================================================
"""


def post_deliveries(url: str, signer: GongSigner, public_url: str) -> None:
    print("\n1. Gong delivers webhooks")
    calls = sample_calls()
    deliveries: list[tuple[str, dict[str, Any], bool]] = [
        (c["call"]["metaData"]["title"], webhook_payload(c["call"]), True) for c in calls
    ]
    deliveries.append(("duplicate of the first call", webhook_payload(calls[0]["call"]), True))
    deliveries.append(
        ("Gong 'Test now' delivery", webhook_payload(calls[1]["call"], is_test=True), True)
    )
    deliveries.append(("forged delivery (bad signature)", webhook_payload(calls[2]["call"]), False))
    for label, payload, sign in deliveries:
        body = json.dumps(payload).encode()
        signer_used = signer if sign else GongSigner()
        headers = {
            "Authorization": f"Bearer {signer_used.jwt(body, public_url)}",
            "Content-Type": "application/json",
        }
        r = httpx.post(f"{url}/webhooks/gong", content=body, headers=headers, timeout=10)
        outcome = r.json().get("status") or r.json().get("error")
        print(f"   {r.status_code}  {outcome:<10} {label}")


def show_events(s: Settings) -> None:
    with connect(s.database_url) as conn:
        for row in conn.execute(
            "SELECT idempotency_key, status, received_at FROM webhook_events ORDER BY id"
        ):
            print(
                f"   {row['idempotency_key']:<14} {row['status']:<10} {row['received_at']:%H:%M:%S}"
            )


def show_call(s: Settings, call_id: str) -> None:
    with connect(s.database_url) as conn:
        call = conn.execute(
            "SELECT title, metrics, transcript_tokens, call_type, skipped_reason, flags, language"
            " FROM calls WHERE id = %s",
            (call_id,),
        ).fetchone()
        latest = current_for_call(conn, call_id)
        spend = costs.call_cost(conn, call_id)
    assert call is not None
    m = call["metrics"]
    kind = f"{call['call_type']} call, language {call['language']}"
    print(f"\n   {call['title']}  ({kind}, {call['transcript_tokens']:,} transcript tokens)")
    if call["skipped_reason"]:
        print(
            f"   SKIPPED by the applicability rules: {call['skipped_reason']};"
            f" cost ${float(spend['usd']):.2f} in {spend['requests']} requests"
        )
        return
    for flag in call["flags"]:
        print(
            f"   FLAGGED for the manager, a line addressing the AI reviewer (ignored when"
            f' scoring): [{flag["timestamp"]}] {flag["speaker"]}: "{flag["text"][:70]}"'
        )
    print(
        f"   talk ratio rep {m['talk_ratio_rep']:.0%} | rep questions {m['rep_questions']} | "
        f"longest monologue {m['longest_monologue_s']:.0f}s | patience {m['patience_s']:.2f}s | "
        f"{m['rep_words_per_minute']:.0f} wpm"
    )
    for dimension, row in sorted(latest.items()):
        result = row["result"]
        evidence = next((e for c in result["criteria"] for e in c["evidence"]), None)
        quote = (
            f'[{evidence["timestamp"]}] {evidence["speaker"]}: "{evidence["quote"][:70]}"'
            if evidence
            else "(no grounded quote)"
        )
        chunks = f" over {result['chunks']} chunks" if result["chunks"] > 1 else ""
        overall = result["overall_score"]
        score = f"{overall:.1f}/5" if overall is not None else "N/A  "
        print(f"     {dimension:<18} {score}{chunks}  {quote}")
        print(f"       {_gate_line(result)}")
    print(
        f"   cost ${float(spend['usd']):.4f} in {spend['requests']} requests "
        f"(prompt-cache hit rate {spend['prompt_cache_hit_rate'] or 0:.0%})"
    )


def _gate_line(result: dict[str, Any]) -> str:
    """How the publish gate decided: the samples behind the score, and why it is held."""
    samples = result.get("samples") or []
    models = sorted({x["model"] for x in samples})
    drawn = f"{len(samples)} samples of {', '.join(models)}" if samples else "one sample"
    if result.get("state") == "needs_review":
        why = "; ".join(result.get("review_reasons") or [])[:110]
        return f"HELD for the manager's review ({drawn}): {why}"
    if result.get("escalated"):
        return f"published after escalating ({drawn}): the first samples disagreed"
    return f"published ({drawn} agree)"


def show_trust(s: Settings) -> None:
    """What makes a score one a rep accepts: N/A with its reason, quotes in the right mouth."""
    print("\n   How the scores were made (README 'How a score is made')")
    with connect(s.database_url) as conn:
        na = conn.execute(
            """
            SELECT s.call_id, s.dimension, c ->> 'criterion_id' AS criterion,
                   c ->> 'rationale' AS reason
            FROM current_sessions s, jsonb_array_elements(s.result -> 'criteria') c
            WHERE s.overall_score IS NOT NULL AND jsonb_typeof(c -> 'score') = 'null'
            ORDER BY s.call_id, s.dimension LIMIT 1
            """
        ).fetchone()
        whole = conn.execute(
            "SELECT call_id, dimension, result ->> 'coaching_note' AS note FROM current_sessions"
            " WHERE overall_score IS NULL ORDER BY call_id LIMIT 1"
        ).fetchone()
        quotes = conn.execute(
            "SELECT coalesce(sum(quotes_dropped), 0) AS dropped,"
            " coalesce(sum((result ->> 'quotes_wrong_speaker')::int), 0) AS wrong"
            " FROM current_sessions"
        ).fetchone()
    if na:
        print(
            f"   N/A criterion: {na['call_id']} {na['dimension']}.{na['criterion']}: {na['reason']}"
        )
    if whole:
        print(f"   N/A dimension: {whole['call_id']} {whole['dimension']}: {whole['note'][:90]}")
    if quotes:
        print(
            f"   quotes dropped: {quotes['dropped']} ({quotes['wrong']} found verbatim but in the"
            " other side's mouth: the stand-in names the wrong speaker one time in six)"
        )


def run(stack: Stack) -> None:
    for key, value in stack.env().items():
        os.environ[key] = value
    signer = GongSigner()
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/webhooks/gong"
    os.environ["GONG_WEBHOOK_PUBLIC_KEYS"] = signer.public_key_b64_der
    os.environ["GONG_WEBHOOK_URL"] = public_url
    from flows.dispatcher import dispatch_once
    from functions.webhook import create_app

    slack, slack_server = start_slack(stack)
    s = load_settings()
    server = serve(create_app(s), port=port)
    try:
        post_deliveries(server.url, signer, public_url)
        print("\n2. What landed in webhook_events (the outbox)")
        show_events(s)
        with GongClient.from_settings(s) as gong, connect(s.database_url) as conn:
            people = list(gong.users())
            synced = upsert_users(conn, people, roles.titles_from(s))
            conn.commit()
        for person in people:  # the company's Slack workspace knows its people by e-mail
            if person.emailAddress:
                slack.add_user(person.emailAddress)
        print(f"\n   synced {synced} users (reps and their manager) from Gong's /v2/users")
        print(
            "\n3. The dispatcher starts analyze-calls runs; each call reports its end to the outbox"
        )
        runs = InProcessRuns()
        result = dispatch_once(s, start_run=runs).dispatched
        runs.run_all()
        analysed = result.started
        print(
            f"   started {len(result.runs)} runs for {len(result.started)} calls,"
            f" {len(result.failed)} kept pending; the outbox afterwards:"
        )
        show_events(s)
        print("\n4. Coaching per call (first run)")
        for call_id in analysed:
            show_call(s, call_id)
        show_trust(s)
        print("\n5. The same calls analysed again: the tier-1 cache answers")
        from flows.analyze_call import analyze_call

        before = stack.anthropic.requests
        again = [analyze_call(c) for c in analysed]
        cached = sum(d["cached"] for r in again for d in r["dimensions"].values())
        scored = sum(len(r["dimensions"]) for r in again)
        print(
            f"   {cached} of {scored} dimensions from cache, "
            f"{stack.anthropic.requests - before} Claude requests, $0.00"
        )
        with connect(s.database_url) as conn:
            mtd = costs.month_to_date(conn)
        print(
            f"\n   month to date: ${float(mtd['usd']):.4f} over {mtd['requests']} requests; "
            f"tier-1 hit rate {mtd['tier1_hit_rate']:.0%}; prompt-cache hit rate {mtd['prompt_cache_hit_rate']:.0%}"
        )
        show_deals(s, stack, analysed)
        show_weekly_reports(s)
        asyncio.run(ask_as_manager(s))
        asyncio.run(show_gate(s))
        show_agreement(s)
        show_scorecard_scales(s)
        check_gong_traffic(stack)
        show_validity(s, stack)
        asyncio.run(show_reps_loop(s, slack))
    finally:
        server.stop()
        slack.release.set()
        slack_server.stop()


def show_deals(s: Settings, stack: Stack, call_ids: list[str]) -> None:
    """Each call's deal and the stage at the call; a deal closes in the CRM; the daily refresh
    asks Gong (calls/extensive, Extended context) and picks the outcome up."""
    from common.deals import for_call
    from flows.refresh_deals import refresh_deals
    from local.sample_deals import CLOSING_IN_DEMO, DEALS

    print("\n   The deal behind each call (Gong's Extended CRM context: at the call -> now)")
    with connect(s.database_url) as conn:
        for call_id in call_ids:
            title = conn.execute("SELECT title FROM calls WHERE id = %s", (call_id,)).fetchone()
            deal = for_call(conn, call_id)
            what = (
                f"{deal.name}: {deal.stage_at_call} at the call -> {deal.stage} now, {deal.outcome}"
                + ("" if deal.stage_mapped else " (stage not in DEAL_STAGE_OUTCOMES: reported)")
                if deal
                else "no deal (fine: not every call has one)"
            )
            print(f"   {call_id} {(title or {}).get('title', '')[:34]:<34} {what}")
    call_id, stage, probability, close_date = CLOSING_IN_DEMO
    stack.gong.close_deal(DEALS[call_id].opportunity_id, stage, probability, close_date)
    print(
        f"\n   In the CRM, {DEALS[call_id].name} moves to {stage!r}; the daily refresh-deals runs"
    )
    seen = len(stack.gong.traffic)
    result = refresh_deals()
    asked = [
        t["body"] for t in list(stack.gong.traffic)[seen:] if t["path"] == "/v2/calls/extensive"
    ]
    selector = asked[0]["contentSelector"] if asked else {}
    print(
        f"   {result['open_deals']} open deals asked about in {result['requests']} Gong request(s)"
        f" (contentSelector.context={selector.get('context')},"
        f" contextTiming={','.join(selector.get('contextTiming', []))}; ids 100 a request)"
    )
    for closed in result["closed"]:
        print(f"   picked up: {closed['name']} is {closed['outcome']} ({closed['stage']})")
    if result["unmapped_stages"]:
        print(f"   unmapped stage names, kept open: {result['unmapped_stages']}")


def show_weekly_reports(s: Settings) -> None:
    from flows.weekly_review import build_week
    from local.samples import BASE

    week = (BASE - timedelta(days=BASE.weekday())).date()
    print(f"\n6. Weekly reviews for the week of {week} (written to S3, copied to .data/reports/)")
    result = build_week(s, week)
    out = DATA_DIR / "reports" / week.isoformat()
    out.mkdir(parents=True, exist_ok=True)
    with connect(s.database_url) as conn:
        keys = [
            r["object_key"]
            for r in conn.execute(
                "SELECT object_key FROM weekly_reports WHERE week_start = %s ORDER BY scope, subject_id",
                (week,),
            )
        ]
    store = ObjectStore.from_settings(s)
    for key in keys:
        (out / key.rsplit("/", 1)[1]).write_bytes(store.get_bytes(key))
    print(
        f"   {result['reps']} rep reports, {result['teams']} team report; open {out / 'index.html'}"
        " (its links are presigned for this demo's S3)"
    )


async def ask_as_manager(s: Settings) -> None:
    from fastmcp import Client

    from functions.mcp_tools import create_server

    print("\n7. Claude Desktop's view: the MCP server, as manager Maya Chen")
    async with Client(create_server(s, stdio_user="maya.chen@northwind.example")) as client:
        overview = (await client.call_tool("team_overview", {})).structured_content
        for rep in overview["reps"]:
            scores = ", ".join(
                f"{d.split('_')[0]} {v:.1f}" for d, v in sorted(rep["scores"].items())
            )
            print(f"   {rep['rep_name']:<12} {rep['calls']} calls  {scores}")
    async with Client(create_server(s, stdio_user="dana.lee@northwind.example")) as client:
        refused = await client.call_tool(
            "get_call_coaching", {"call_id": "7001002"}, raise_on_error=False
        )
        print(f"   rep Dana Lee asking for Sam Ortiz's call: {refused.content[0].text}")
        disputed = (
            await client.call_tool(
                "dispute_score",
                {
                    "call_id": "7001003",
                    "dimension": "engagement",
                    "reason": "The CFO did most of the talking because I asked her to walk me"
                    " through the approval steps.",
                },
            )
        ).structured_content
        ai = disputed["ai_score"]
        print(
            f"   rep Dana Lee disputes engagement on her Initech call (AI {ai:.1f}):"
            f" dispute {disputed['id']}, {disputed['status']}"
        )
    async with Client(create_server(s, stdio_user="maya.chen@northwind.example")) as client:
        listed = (await client.call_tool("list_disputes", {})).structured_content["disputes"]
        resolved = (
            await client.call_tool(
                "resolve_dispute",
                {
                    "dispute_id": listed[0]["id"],
                    "decision": "override",
                    "score": 4,
                    "reason": "Fair: the long customer turns were answers to good questions.",
                },
            )
        ).structured_content
        print(
            f"   manager Maya Chen sees {len(listed)} open dispute(s) and resolves it:"
            f" {resolved['status']}, her score {resolved['manager_score']} beside the AI's"
            f" {resolved['ai_score']:.1f} (counted in agreement)"
        )


async def show_gate(s: Settings) -> None:
    """The gate's shares and run-to-run agreement per dimension; a held score confirmed by the
    manager through the review queue, and the rep then seeing the manager's word."""
    from fastmcp import Client

    from common.scoring import publishing, run_to_run
    from functions.mcp_tools import create_server

    print("\n8. The publish gate (README 'How a score is made')")
    with connect(s.database_url) as conn:
        shares = publishing(conn)
        noise = run_to_run(conn, min_units=2)  # the demo's few calls: reports need 10
    for d, x in shares.items():
        r = noise.get(d, {})
        print(
            f"   {d:<18} {x['sessions']} scored: {x['published']} published at once,"
            f" {x['escalated']} after escalating, {x['held']} held for review;"
            f" run-to-run alpha {r.get('alpha')} over {r.get('sessions', 0)} calls"
            f" (sd of one sample {r.get('sd')})"
        )
    async with Client(create_server(s, stdio_user="maya.chen@northwind.example")) as client:
        queue = (await client.call_tool("review_queue", {})).structured_content
        held = [i for i in queue["items"] if i["kind"] == "review" and i["ai_score"] is not None]
        print(f"   Maya Chen's review queue: {queue['held']} held, {queue['audit']} to audit")
        if not held:
            return
        item = held[0]
        print(
            f"   held: {item['call_title']} {item['dimension']}, the AI suggests"
            f" {item['ai_score']:.1f} ({'; '.join(item['review_reasons'])[:100]})"
        )
        done = (
            await client.call_tool(
                "review_score",
                {
                    "call_id": item["call_id"],
                    "dimension": item["dimension"],
                    "confirm": True,
                    "note": "Listened to the call: the suggestion is fair.",
                },
            )
        ).structured_content
        print(
            f"   Maya confirms it: her score {done['score']} (the AI's {done['ai_score']:.2f} kept beside it)"
        )
    with connect(s.database_url) as conn:
        rep = conn.execute("SELECT email FROM users WHERE id = %s", (item["rep_id"],)).fetchone()
    assert rep is not None
    async with Client(create_server(s, stdio_user=rep["email"])) as client:
        view = (
            await client.call_tool(
                "get_call_coaching", {"call_id": item["call_id"], "detail": "full"}
            )
        ).structured_content
    shown = next(d for d in view["dimensions"] if d["dimension"] == item["dimension"])
    print(
        f"   the rep {item['rep_name']} now sees {item['dimension']} {shown['overall_score']}"
        f" ({shown['shown']}); still held on this call: {view['held'] or 'nothing'}"
    )


def show_agreement(s: Settings) -> None:
    """Managers' Gong scorecards imported, then agreement with the AI and between managers."""
    from common.accuracy.agreement import table
    from common.accuracy.pairs import Filters, agreement
    from flows.scorecards import import_range

    print("\n9. Accuracy: managers' Gong scorecards against the AI's scores")
    imported = import_range(s, date(2026, 11, 1), date(2026, 12, 1))
    print(
        f"   imported {imported['imported']} manager scores from"
        f" {imported['answered_scorecards']} answered scorecards"
        f" ({imported['not_applicable']} N/A kept; unmapped questions: {imported['unmapped']})\n"
    )
    with connect(s.database_url) as conn:
        result = agreement(conn, Filters(), bootstrap=200)
    print("   AI vs managers; on the right two managers on the same call (the human ceiling)")
    for line in table(result).splitlines():
        print(f"   {line}")
    print(
        "\n   The stand-in's scores are PLACEHOLDERS drawn at random, so agreement near chance"
        "\n   (QWK and alpha around 0) is expected here; with a real key see README 'Accuracy'."
    )


def show_scorecard_scales(s: Settings) -> None:
    """Gong's scorecard questions as Gong sends them: int64 ids, each on its own scale, and how
    each is put on the rubric's 1-5 (or why it is not)."""
    from common.accuracy.scorecards import MAPPING_FILE, ScorecardMapping, describe
    from common.rubrics import load

    mapping = ScorecardMapping.load(s.rubrics_dir / MAPPING_FILE, load(s.rubrics_dir))
    with GongClient.from_settings(s) as gong:
        cards = describe(list(gong.scorecards()), mapping)
    print("\n   Gong's scorecard questions (numeric ids kept exact) and their scales on 1-5:")
    for card in cards:
        for q in card["questions"]:
            how = q["scale"] or f"unmapped: {q['problem']}"
            print(f"   {q['question_id']:>20} {q['text'][:38]:<38} -> {q['maps_to']}; {how}")


class GongContractBroken(RuntimeError):
    """The demo's Gong traffic is not what Gong's published spec allows."""


def check_gong_traffic(stack: Stack) -> None:
    """Every request the demo sent to Gong and every answer it got, held to Gong's own OpenAPI
    spec (docs/gong/gong-openapi-v2.json) from outside the client and the stand-in."""
    from local.gong_spec import spec

    traffic = list(stack.gong.traffic)
    errors = [
        f"{t['method']} {t['path']} -> {t['status']}: {e[0]}"
        for t in traffic
        if (
            e := spec().request_errors(t["method"], t["path"], t["body"], t["query"])
            + spec().response_errors(t["method"], t["path"], t["status"], t["response"])
        )
    ]
    paths = sorted({t["path"] for t in traffic})
    print(f"\n10. Gong traffic against Gong's published spec: {len(traffic)} exchanges on {paths}")
    if errors:
        for line in errors[:10]:
            print(f"   NOT AS SPECIFIED: {line}")
        raise GongContractBroken(f"{len(errors)} Gong exchanges differ from Gong's spec")
    print("   every request and every answer is one the spec allows")


def show_validity(s: Settings, stack: Stack) -> None:
    """Which criteria go with won deals, and did coaching change anything: on the demo's own
    few deals (too few, with the count), then on a sample year of a company's closed deals and
    coaching (local/sample_history.py) in a database of its own, read exactly as the company's
    own would be."""
    from urllib.parse import urlsplit, urlunsplit

    from common.db import apply_schema
    from common.validity import coaching_effect, coaching_line, from_db, table
    from local.sample_history import COACHED, PLANTED, seed_history
    from local.stack import create_database

    print("\n11. Which criteria go with won deals, and did coaching change anything")
    with connect(s.database_url) as conn:
        own = from_db(conn, None, s.validity_min_deals)
        effect = coaching_effect(conn, None, 4, s.coaching_min_events)
    print(f"   this demo's own deals: {table(own)}")
    print(f"   {coaching_line(effect)}")
    parts = urlsplit(s.database_url)
    create_database(urlunsplit(parts._replace(path="/postgres")), "sales_coach_history")
    url = urlunsplit(parts._replace(path="/sales_coach_history"))
    apply_schema(url)
    with connect(url) as conn:
        history = seed_history(conn)
        conn.commit()
        report = from_db(conn, None, s.validity_min_deals)
        effect = coaching_effect(conn, None, 4, s.coaching_min_events)
    print(
        f"\n   A sample company's year ({history.deals} closed deals of {len(history.reps)} reps,"
        f" {history.calls} calls; planted: {PLANTED} changes the odds within rep and stage,"
        f" coaching on {COACHED} lifts later scores):"
    )
    for text in table(report).splitlines():
        print(f"   {text}")
    print(f"   {coaching_line(effect)}")


def start_slack(stack: Stack) -> tuple[Any, Any]:
    """The Slack stand-in (local/slack_server.py) the reps' notes go to, and the settings that
    turn the notes on: REP_NOTES, the bot token, the Slack API's address, the link secret."""
    from local.slack_server import SlackState
    from local.slack_server import create_app as slack_app

    slack = SlackState(token="xoxb-demo-token")
    slack_server = serve(slack_app(slack))
    os.environ.update(
        {
            "REP_NOTES": "true",
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": f"{slack_server.url}/api",
            "ACK_LINK_SECRET": "demo-ack-link-secret",
        }
    )
    return slack, slack_server


async def show_reps_loop(s: Settings, slack: Any) -> None:
    """The rep's loop: each analysed call's note delivered by Slack DM and acknowledged; the
    week's plan drafted, edited and approved by the manager, sent and acknowledged; the
    works-council pack written."""
    from common.db import Database
    from common.repnotes import deliver_due

    print("\n12. The rep's loop: a note after each call, a weekly plan the manager approves")
    db = Database(s.database_url, max_size=2)
    try:
        delivered = deliver_due(s, db)
        print(
            f"   notes delivered by Slack DM: {delivered.sent} ({delivered.messages} messages,"
            f" {delivered.retrying} retrying, {delivered.failed} failed)"
        )
        await show_one_note(s, slack)
        await show_weekly_plan(s, db)
    finally:
        db.close()
    show_compliance_pack(s)


async def show_one_note(s: Settings, slack: Any) -> None:
    from fastmcp import Client

    from functions.mcp_tools import create_server

    with connect(s.database_url) as conn:
        note = conn.execute(
            "SELECT n.id, n.call_id, n.body, n.action, n.moment_link, u.email, u.name, c.title"
            " FROM rep_notes n JOIN users u ON u.id = n.rep_id JOIN calls c ON c.id = n.call_id"
            " WHERE n.status = 'sent' ORDER BY n.call_id LIMIT 1"
        ).fetchone()
    if note is None:
        print("   no note was sent")
        return
    print(f'   {note["name"]}\'s note on "{note["title"]}" (call {note["call_id"]}):')
    print(f"     {note['body']}")
    print(f"     Next: {note['action']}")
    print(f"     The moment: {note['moment_link']}")
    print(f"     in Slack: {len(slack.messages_to(note['email']))} message(s) in the bot's DM")
    async with Client(create_server(s, stdio_user=note["email"])) as client:
        ack = await client.call_tool("acknowledge_note", {"note_id": note["id"]})
    print(
        f"   {note['name']} acknowledges it (acknowledge_note):"
        f" at {ack.structured_content['acknowledged_at']}"
    )


async def show_weekly_plan(s: Settings, db: Any) -> None:
    from fastmcp import Client

    from common.plans import deliver_plans, draft_week
    from functions.mcp_tools import create_server
    from local.samples import BASE

    week = (BASE - timedelta(days=BASE.weekday())).date()
    with connect(s.database_url) as conn:
        drafted = draft_week(conn, s, week)
        conn.commit()
    manager = "maya.chen@northwind.example"
    async with Client(create_server(s, stdio_user=manager)) as client:
        listed = (
            await client.call_tool("list_plans", {"week": week.isoformat()})
        ).structured_content
        plans = listed["plans"]
        print(
            f"   weekly plans drafted for the week of {week}: {len(drafted)}; Maya Chen sees {len(plans)}"
        )
        if not plans:
            return
        plan = plans[0]
        _print_plan(plan)
        edited = (
            await client.call_tool(
                "edit_plan",
                {
                    "plan_id": plan["id"],
                    "exercise": {
                        "situation": (plan["exercise"] or {}).get("situation", "")
                        + " Practise it with me on Thursday's 1:1."
                    },
                },
            )
        ).structured_content
        approved = (
            await client.call_tool("approve_plan", {"plan_id": plan["id"]})
        ).structured_content
    print(
        f"   Maya Chen edits the exercise ({len(edited['history'])} change kept) and approves it:"
        f" {approved['status']}"
    )
    sent = deliver_plans(s, db)
    with connect(s.database_url) as conn:
        rep = conn.execute(
            "SELECT email, name FROM users WHERE id = %s", (plan["rep_id"],)
        ).fetchone()
    assert rep is not None
    async with Client(create_server(s, stdio_user=rep["email"])) as client:
        ack = (
            await client.call_tool("acknowledge_plan", {"plan_id": plan["id"]})
        ).structured_content
    print(
        f"   sent only once approved ({sent.sent} sent); {rep['name']} acknowledges it at {ack['acknowledged_at']}"
    )


def _print_plan(plan: dict[str, Any]) -> None:
    print(f"   {plan['rep_name']}'s draft ({plan['status']}):")
    for item in plan["working"]:
        print(f"     working:  {item['text']}")
    for item in plan["tighten"]:
        print(f"     tighten:  {item['text']}")
    ex = plan["exercise"]
    if ex:
        who, said = (
            ("the customer said", ex["customer_said"])
            if ex.get("customer_said")
            else ("the rep said", ex.get("rep_said") or "")
        )
        print(f"     exercise: {ex['situation']}")
        print(f'               {who}: "{said}" ({ex.get("link")})')
        print(f"               a strong answer covers: {ex.get('strong_answer')}")


def show_compliance_pack(s: Settings) -> None:
    from common.compliance import write_pack
    from local.samples import BASE

    out = DATA_DIR / "compliance-pack"
    with connect(s.database_url) as conn:
        files = write_pack(conn, s, out, (BASE - timedelta(days=30)).date(), date.today())
    names = ", ".join(p.name for p in files.paths)
    print(f"\n13. The works-council pack (not legal advice), written to {out}: {names}")


def unanalysed(s: Settings) -> list[tuple[str, str, str | None]]:
    """Delivered calls (test deliveries aside) not completed in the outbox or not analysed
    (`common.scoring.analysed`: skipped by a rule, or a current session for each dimension of
    their call type): (call id, outbox status, last error)."""
    rules = load_applicability(s.rubrics_dir)
    with connect(s.database_url) as conn:
        rows = conn.execute(
            "SELECT call_id, status, last_error FROM webhook_events WHERE NOT is_test"
            " ORDER BY call_id"
        ).fetchall()
        done = analysed(conn, [r["call_id"] for r in rows], rules)
    return [
        (r["call_id"], r["status"], r["last_error"])
        for r in rows
        if r["status"] != "completed" or r["call_id"] not in done
    ]


def main() -> int:
    print(BANNER)
    with local_stack(DATA_DIR / "postgres", database="sales_coach_demo") as stack:
        run(stack)
        missing = unanalysed(load_settings())
    print(BANNER)
    if missing:
        print(f"DEMO FAILED: {len(missing)} delivered call(s) not analysed:", file=sys.stderr)
        for call_id, status, error in missing:
            print(
                f"  call {call_id}: outbox {status}; {error or 'no error recorded'}",
                file=sys.stderr,
            )
        return 1
    print(
        "Every delivered call was analysed on the dimensions of its call type,"
        " or skipped by an applicability rule at no cost."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
