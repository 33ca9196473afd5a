"""Incidents in the ops group: who may press what, races, stale buttons, questions, commands."""

from __future__ import annotations

import shutil

from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT, VIEWER
from bot.sandbox.home import make_stats_stale
from bot.clock import utc_now
from bot.incidents.model import Verb
from handlers import callbacks as cb
from tests.incident_walk import open_incident


async def _both_pressed(chat, message, data: str) -> list[dict]:
    """Two operators press the same button at the same moment; both answers."""
    q1 = chat.tg.press_button(OPS_CHAT, ADMIN, message.message_id, data)
    q2 = chat.tg.press_button(OPS_CHAT, OPERATOR, message.message_id, data)
    last = chat.tg.last_update_id
    assert await chat.runner.wait_handled(last - 1, timeout=20)
    assert await chat.runner.wait_handled(last, timeout=20)
    return [chat.tg.callback_answers[q1], chat.tg.callback_answers[q2]]


async def test_two_operators_pressing_run_at_once_run_it_once(chat, sandbox) -> None:
    sandbox.instagram.set_fault("slow", delay_ms=600)  # the health check takes a moment
    walk = await open_incident(chat, "/incident token autumn-cafe")
    answers = await _both_pressed(chat, walk.live(), walk.button("run"))
    incident = walk.incident
    assert incident["step_state"][0]["runs"] == 1
    assert sum(e["event"] == "step.run" for e in incident["timeline"]) == 1
    assert sum(e["event"] == "step.result" for e in incident["timeline"]) == 1
    refused = [a for a in answers if a.get("show_alert")]
    assert len(refused) == 1, answers
    assert "already running" in refused[0]["text"] or "no longer current" in refused[0]["text"]
    assert incident["current"] == 1


async def test_two_acknowledgements_at_once_make_one_lead(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    answers = await _both_pressed(chat, walk.live(), walk.button("ack"))
    incident = walk.incident
    assert incident["status"] == "acknowledged"
    assert sum(e["event"] == "acknowledged" for e in incident["timeline"]) == 1
    assert incident["lead"] in ("tg:1001 @mina_admin", "tg:1002 @joon_ops")
    assert sum(bool(a.get("show_alert")) for a in answers) == 1
    assert not walk.has_button("ack")


async def test_stale_forged_and_unauthorised_presses_change_nothing(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    first_run = walk.button("run")
    await walk.step()
    before = walk.incident
    stale = await chat.press(walk.live(), data=first_run)
    assert stale["show_alert"] and "no longer current" in stale["text"]
    forged = await chat.press(walk.live(), data="v1:i:999:0:run")
    assert forged["show_alert"] and "no longer valid" in forged["text"]
    odd = await chat.press(walk.live(), data=f"v1:i:{before['id']}:0:zap")
    assert odd["show_alert"] and "no longer valid" in odd["text"]
    viewer = await chat.press(walk.live(), data=walk.button("skip"), user=VIEWER)
    assert viewer["show_alert"] and "operator" in viewer["text"]
    after = walk.incident
    assert after["_v"] == before["_v"] and after["timeline"] == before["timeline"]


async def test_a_press_acts_only_on_a_message_of_its_own_kind(chat, sandbox) -> None:
    first = await open_incident(chat, "/incident stats")
    second = await open_incident(chat, "/incident telegram")
    (report,) = await chat.send("/health")
    lives = {w.ref: (w.live().text, w.live().buttons()) for w in (first, second)}
    forged = [
        (first.live(), cb.HEALTH_RECHECK),  # a health re-check sent on a live message
        (first.live(), second.button("ack")),  # another incident's button
        (report, first.button("ack")),  # an incident's button sent on a health report
    ]
    for message, data in forged:
        answer = await chat.press(message, data=data)
        assert answer["show_alert"] and "no longer valid" in answer["text"], data
    assert {w.ref: (w.live().text, w.live().buttons()) for w in (first, second)} == lives
    assert first.incident["status"] == second.incident["status"] == "open"
    assert chat.tg.message(OPS_CHAT.id, report.message_id).edits == 0  # not re-checked


async def test_admin_steps_and_confirmation(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident token autumn-cafe")
    while walk.incident["steps"][walk.incident["current"]]["action"] != "token.set_expiry":
        await walk.step()
    refused = await walk.press("run", user=OPERATOR)
    assert refused["show_alert"] and "admin" in refused["text"].lower()
    await walk.press("run")
    index = walk.incident["current"]
    assert walk.incident["step_state"][index]["status"] == "confirming"
    assert walk.has_button("cf") and walk.has_button("no") and not walk.has_button("run")
    await walk.press("no")
    assert walk.incident["step_state"][index]["status"] == "pending"
    assert chat.store.token_expiry_registration() is None
    await walk.press("run")
    await walk.press("cf")
    assert walk.incident["step_state"][index]["status"] == "done"
    assert chat.store.token_expiry_registration().actor == "tg:1001 @mina_admin"


async def test_resolving_unverified_needs_an_admin_and_a_reason(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    refused = await walk.press("res", user=OPERATOR)
    assert refused["show_alert"] and "verify" in refused["text"].lower()
    assert walk.incident["status"] == "open"
    await walk.press("res")
    question = chat.tg.message(OPS_CHAT.id, walk.incident["pending_reply"]["message_id"])
    assert "reason" in question.text
    # an operator's answer is not an admin's reason
    await chat.send("it healed itself", user=OPERATOR, reply_to=question.message_id)
    assert walk.incident["status"] == "open"
    await chat.send("the collector was restarted by hand; verified on the dashboard",
                    reply_to=question.message_id)
    incident = walk.incident
    assert incident["status"] == "resolved"
    assert incident["resolve_override"].startswith("the collector was restarted")
    assert incident["pending_reply"]["kind"] == "root_cause"
    assert "without verification" in walk.live().text


async def test_the_topic_is_asked_for_and_checked(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident cloudinary", user=OPERATOR)
    question = chat.tg.message(OPS_CHAT.id, walk.incident["pending_reply"]["message_id"])
    assert question.reply_to_message_id == walk.live().message_id
    assert question.reply_markup.get("force_reply") and "tg://user?id=1002" in question.html
    sent = await chat.send("../../etc", reply_to=question.message_id, user=OPERATOR)
    assert "folder name" in sent[-1].text and walk.incident["topic"] is None
    # asked again, as a question of its own: the old one is closed, the new one answers
    again = chat.tg.message(OPS_CHAT.id, walk.incident["pending_reply"]["message_id"])
    assert again.message_id == sent[-1].message_id and again.reply_markup.get("force_reply")
    assert await chat.send("autumn-cafe", reply_to=question.message_id, user=OPERATOR) == []
    await chat.send("autumn-cafe", reply_to=again.message_id, user=OPERATOR)
    assert walk.incident["topic"] == "autumn-cafe"
    assert "autumn-cafe" in walk.live().text
    # a reply to an answered question is ordinary conversation
    sent = await chat.send("thanks", reply_to=again.message_id, user=OPERATOR)
    assert sent == []


async def test_a_second_report_is_linked_and_the_message_moves_down(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    first = walk.live()
    sent = await chat.send("/incident 5", user=OPERATOR)
    assert len(chat.store.find("incidents")) == 1
    assert walk.incident["linked"] == ["tg:1002 @joon_ops"]
    assert any("already open" in (m.text or "") for m in sent)
    moved = chat.tg.message(OPS_CHAT.id, first.message_id)
    assert "moved to the bottom" in moved.text and moved.buttons() == []
    assert walk.live().message_id > first.message_id and "Reported again 1" in walk.live().text
    # the old message's buttons are gone; pressing its stale data still answers
    answer = await chat.press(moved, data=f"v1:i:{walk.incident['id']}:0:run")
    assert answer["text"]


async def test_incident_commands(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident telegram")
    other = await open_incident(chat, "/incident stats")
    listing = (await chat.send("/incidents", user=VIEWER))[-1].text
    assert walk.ref in listing and other.ref in listing and listing.index(walk.ref) < listing.index(other.ref)
    old = walk.live().message_id
    refused = await chat.send(f"/incident {walk.ref}", user=VIEWER)
    assert "operator" in refused[-1].text and walk.live().message_id == old
    await chat.send(f"/incident {walk.ref.lower()}", user=OPERATOR)
    assert walk.live().message_id > old
    refused = await chat.send(f"/incident {walk.ref} severity P0", user=OPERATOR)
    assert "admin" in refused[-1].text and walk.incident["severity"] == "P2"
    due_before = walk.incident["escalation"][2]["due_at"]
    await chat.send(f"/incident {walk.ref} severity P1")
    assert walk.incident["severity"] == "P1" and walk.incident["escalation"][2]["due_at"] == due_before
    assert "already P1" in (await chat.send(f"/incident {walk.ref} severity p1"))[-1].text
    assert "No severity P9" in (await chat.send(f"/incident {walk.ref} severity P9"))[-1].text
    assert any(e["event"] == "severity" for e in walk.incident["timeline"])
    sent = await chat.send("/incident nosuch")
    assert "No runbook" in sent[-1].text
    sent = await chat.send("/incident INC-20990101-001")
    assert "No incident" in sent[-1].text
    sent = await chat.send("/incident token bad/topic")
    assert "Could not read" in sent[-1].text
    refused = await chat.send("/incident stats", user=VIEWER)
    assert "operator" in refused[-1].text


async def test_the_scenario_picker(chat, sandbox) -> None:
    picker = (await chat.send("/incident", user=OPERATOR))[-1]
    labels = [text for text, _ in picker.buttons()]
    assert len(labels) == 6 and labels[0].endswith("1. Instagram token expired")
    answer = await chat.press(picker, 4, user=OPERATOR)
    assert "Opening" in answer["text"]
    incident = chat.store.find("incidents")[0]
    assert incident["scenario"] == "stats-collection" and incident["opened_by"] == "tg:1002 @joon_ops"
    picked = chat.tg.message(OPS_CHAT.id, picker.message_id)
    assert picked.buttons() == [] and "opened by @joon_ops" in picked.text


async def test_stats_after_a_resolved_incident(sandbox, make_settings) -> None:
    """MTTA and MTTR on a clock the test moves: acknowledged after 12 min, resolved after 65."""
    from datetime import timedelta

    from bot.sandbox.runner import BotRunner
    from bot.services import build_services
    from bot.store import Store
    from tests.conftest import Chat

    now = [utc_now()]
    settings = make_settings()
    with Store.open(settings.data_dir) as store:
        services = build_services(settings, store, clock=lambda: now[0])
        async with BotRunner(settings, store=store, services=services) as runner:
            chat = Chat(sandbox, runner)
            walk = await open_incident(chat, "/incident stats")
            now[0] += timedelta(minutes=12)
            await walk.press("ack", user=OPERATOR)
            await walk.walk()
            now[0] += timedelta(minutes=53)
            await walk.resolve_and_write_up(root_cause="daemon died", prevention="monitor it")
            text = (await chat.send("/stats", user=VIEWER))[-1].text
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.strip()[:2] in ("P0", "P1", "P2", "P3")}
    assert rows["P2"] == ["P2", "1", "0", "12", "min", "1", "h", "5", "min"]
    assert rows["P0"] == ["P0", "0", "0", "—", "—"]
    assert "MTTA" in text and "MTTR" in text


async def test_runbooks_list_and_reload(sandbox, make_settings, tmp_path) -> None:
    from bot.config import DEFAULT_RUNBOOKS_DIR
    from bot.sandbox.runner import BotRunner
    from tests.conftest import Chat

    books = tmp_path / "runbooks"
    shutil.copytree(DEFAULT_RUNBOOKS_DIR, books)
    async with BotRunner(make_settings(RUNBOOKS_DIR=str(books))) as runner:
        chat = Chat(sandbox, runner)
        listing = (await chat.send("/runbooks", user=VIEWER))[-1].text
        assert "Instagram token expired" in listing and listing.count("P0") >= 2
        walk = await open_incident(chat, "/incident stats")
        refused = await chat.send("/runbooks reload", user=OPERATOR)
        assert "admin" in refused[-1].text
        path = books / "stats-collection.toml"
        original = path.read_text(encoding="utf-8")
        path.write_text(original.replace('severity = "P2"', 'severity = "P3"'), encoding="utf-8")
        reloaded = (await chat.send("/runbooks reload"))[-1].text
        assert "reloaded" in reloaded and "→" in reloaded
        path.write_text(original.replace('severity = "P2"', 'severity = "P9"'), encoding="utf-8")
        rejected = (await chat.send("/runbooks reload"))[-1].text
        assert "rejected" in rejected and "stats-collection.toml" in rejected and "P9" in rejected
        # the version in use is the edited good one; the incident under way is untouched
        assert runner.application.bot_data["sunflow"].engine.shelf.library.find("stats").severity == "P3"
        await walk.step()
        assert walk.incident["current"] == 1 and walk.incident["severity"] == "P2"
        await chat.send("/incident 6")
        new = chat.store.find("incidents", lambda d: d["scenario"] == "telegram-notify")[0]
        assert new["severity"] == "P2"


async def test_the_live_message_stays_within_telegrams_length_limit(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    engine = chat.runner.application.bot_data["sunflow"].engine
    states = [dict(s) for s in walk.incident["step_state"]]
    states[0].update(outcome="warn", summary="x" * 500, lines=["y" * 2000] * 8, at="2026-11-27T00:00:00+00:00")
    chat.store.update("incidents", walk.incident["id"],
                      {"step_state": states, "trace_ids": [f"SF-20261127-{n:04d}" for n in range(300)]})
    await chat.send(f"/incident {walk.ref}")
    text = walk.live().text
    assert len(text) <= 4096 and "x" * 100 in text and "y" * 100 in text
    assert engine.get(walk.incident["id"]).trace_ids[-1] == "SF-20261127-0299"


async def test_two_presses_of_a_checklist_tick_make_one_tick(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    await walk.walk()
    data = walk.button("k1", arg=1)  # "process the work that queued up": only a person knows
    answers = await _both_pressed(chat, walk.live(), data)
    assert sorted(a["text"] for a in answers) == ["Already ticked.", "Ticked."]
    incident = walk.incident
    assert incident["checklist"]["recovery"] == ["queued-work"]
    assert sum(e["event"] == "checklist.ticked" for e in incident["timeline"]) == 1
    await walk.press("k0", arg=1)
    assert walk.incident["checklist"]["recovery"] == []
    stale = await chat.press(walk.live(), data=f"v1:i:{incident['id']}:1:k0")
    assert stale["show_alert"] and "Already unticked" in stale["text"]


async def test_a_verify_check_that_could_not_run_is_not_verified(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident token autumn-cafe")
    while walk.incident["steps"][walk.incident["current"]]["phase"] != "verify":
        await walk.press("skip")
    engine = chat.runner.application.bot_data["sunflow"].engine
    index = walk.incident["current"]
    engine.press(walk.incident["id"], index, Verb.RUN, actor="tg:1001 @mina_admin", admin=True)
    from bot.actions.registry import Outcome, StepResult

    engine.record_result(walk.incident["id"], index, StepResult(Outcome.ERROR, "timed out"))
    await chat.send(f"/incident {walk.ref}", user=OPERATOR)
    assert not walk.has_button("ok")
    refused = await chat.press(walk.live(), data=f"v1:i:{walk.incident['id']}:{index}:ok", user=OPERATOR)
    assert refused["show_alert"] and "press Run" in refused["text"]
    assert walk.incident["step_state"][index]["status"] == "pending"


async def test_after_a_kill_mid_step_the_live_message_offers_the_step_again(
        sandbox, make_settings) -> None:
    from bot.sandbox.runner import BotRunner
    from conftest import Chat
    from handlers.incident_live import refresh_live

    settings = make_settings()
    async with BotRunner(settings) as runner:
        walk = await open_incident(Chat(sandbox, runner), "/incident stats")
        ctx = runner.application.bot_data["sunflow"]
        index = walk.incident["current"]
        # the step is claimed and shown running; then the process dies before its result
        ctx.engine.press(walk.incident["id"], index, Verb.RUN, actor="tg:1001 @mina_admin", admin=True)
        refresh_live(runner.application.bot, ctx, walk.incident["id"])
        await runner.settle()
        assert "Running" in walk.live().text and not walk.has_button("run")
    async with BotRunner(settings) as runner:
        walk.chat = Chat(sandbox, runner)
        assert walk.incident["step_state"][index]["status"] == "pending"
        assert "Running" not in walk.live().text and walk.has_button("run")


async def test_an_answer_faster_than_the_bots_bookkeeping_is_not_lost(chat, sandbox, monkeypatch) -> None:
    """The person replies while the bot is still writing down which message its question was."""
    import asyncio
    import time

    engine = chat.runner.application.bot_data["sunflow"].engine
    for name in ("ask", "asked"):  # the store write that names the question's message is slow
        if not hasattr(engine, name):
            continue

        def slow(*args, _write=getattr(engine, name), **kwargs):
            time.sleep(0.5)
            return _write(*args, **kwargs)
        monkeypatch.setattr(engine, name, slow)
    opening = asyncio.create_task(chat.send("/incident image"))
    assert await chat.tg.await_for(lambda: any("which topic" in (m.text or "")
                                               for m in chat.bot_messages()), timeout=10)
    question = next(m for m in chat.bot_messages() if "which topic" in (m.text or ""))
    reply = chat.tg.send_message(OPS_CHAT, ADMIN, "autumn-cafe", reply_to=question.message_id)
    assert await chat.runner.wait_handled(reply.update_id, timeout=20)
    await opening
    incident = chat.store.find("incidents")[0]
    assert incident["topic"] == "autumn-cafe" and incident["pending_reply"] is None
    assert any("topic set to autumn-cafe" in (m.text or "") for m in chat.bot_messages())


async def test_a_warning_at_verify_is_not_verified(chat, sandbox) -> None:
    """Stale statistics still stale at verify: 🟡 is not 🟢, and nobody resolves it as fixed."""
    make_stats_stale(sandbox.home, 30)
    walk = await open_incident(chat, "/incident stats")
    await walk.walk(until_phase="verify")
    assert walk.result("stats.collect")["outcome"] == "ok"  # the respond step collected...
    make_stats_stale(sandbox.home, 30)  # ...but the file went stale again (the daemon is down)
    index = walk.incident["current"]
    assert walk.incident["steps"][index]["action"] == "stats.freshness"
    await walk.press("run", user=OPERATOR)
    state = walk.incident["step_state"][index]
    assert state["outcome"] == "warn" and state["status"] == "failed"
    assert walk.incident["current"] == index, "the walk waits for the fix"
    await walk.press("skip", user=OPERATOR)
    while walk.incident["current"] < len(walk.incident["steps"]):  # the same for the health check
        _, state = await walk.step(user=OPERATOR)
        if state["status"] == "failed":
            assert state["outcome"] == "warn"
            await walk.press("skip", user=OPERATOR)
    text = walk.live().text
    assert "Verified: press Resolve" not in text and "needs an admin's reason" in text
    refused = await walk.press("res", user=OPERATOR)
    assert refused["show_alert"] and walk.incident["status"] != "resolved"


async def test_a_telegram_error_at_resolve_still_asks_for_the_root_cause(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    await walk.walk()
    chat.tg.set_fault("5xx", methods=["editMessageText"], times=3)
    await walk.press("res")
    chat.tg.clear_faults()
    incident = walk.incident
    assert incident["status"] == "resolved" and incident["pending_reply"]["kind"] == "root_cause"


async def test_a_write_up_cut_short_resumes_at_start(sandbox, make_settings) -> None:
    from bot.sandbox.runner import BotRunner
    from tests.conftest import Chat

    settings = make_settings()
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        await walk.walk()
        chat.tg.set_fault("5xx", methods=["sendMessage"])  # the question cannot go out
        await walk.press("res")
        chat.tg.clear_faults()
        assert walk.incident["status"] == "resolved" and walk.incident["pending_reply"] is None
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = type(walk)(chat, walk.ref)
        pending = walk.incident["pending_reply"]
        assert pending and pending["kind"] == "root_cause"
        question = chat.tg.message(OPS_CHAT.id, pending["message_id"])
        assert "root cause" in question.text and 'tg://user?id=1001' in question.html
        await chat.send("the collector's cron line was deleted", reply_to=question.message_id)
        question = chat.tg.message(OPS_CHAT.id, walk.incident["pending_reply"]["message_id"])
        sent = await chat.send("cron is now in the deploy checklist", reply_to=question.message_id)
        assert any(m.document is not None for m in sent)
        assert walk.incident["postmortem"]["written_at"]


async def test_an_overlong_answer_is_refused_not_cut(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    await walk.walk()
    await walk.press("res")
    question = chat.tg.message(OPS_CHAT.id, walk.incident["pending_reply"]["message_id"])
    sent = await chat.send("x" * 2001, reply_to=question.message_id)
    assert "at most 2000" in sent[-1].text
    assert walk.incident["postmortem"]["root_cause"] is None
    assert walk.incident["pending_reply"] == {"kind": "root_cause", "by": "tg:1001 @mina_admin",
                                              "message_id": sent[-1].message_id}


async def test_in_a_forum_topic_everything_stays_in_the_topic(sandbox, make_settings) -> None:
    from bot.sandbox.runner import BotRunner
    from bot.sandbox.telegram import TgChat
    from tests.conftest import Chat

    forum = sandbox.telegram.add_chat(TgChat(id=-1001000000777, type="supergroup",
                                             title="SunFlow (topics)", is_forum=True))
    topic = 42
    settings = make_settings(OPS_CHAT_ID=str(forum.id), OPS_THREAD_ID=str(topic),
                             PD_USER_IDS=str(OPERATOR.id))
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        tg = chat.tg
        tg.send_message(forum, OPERATOR, "/incident cloudinary", thread_id=topic)
        assert await runner.wait_handled(tg.last_update_id)
        incident = chat.store.find("incidents")[0]
        assert incident["message"] == {"chat_id": forum.id, "message_id": incident["message"]["message_id"],
                                       "thread_id": topic}
        live = tg.message(forum.id, incident["message"]["message_id"])
        data = next(d for _, d in live.buttons() if d.endswith(":esc"))
        await chat.press(live, data=data, user=OPERATOR, chat=forum)
        question = tg.message(forum.id, chat.store.get("incidents", incident["id"])["pending_reply"]["message_id"])
        tg.send_message(forum, OPERATOR, "autumn-cafe", reply_to=question.message_id, thread_id=topic)
        assert await runner.wait_handled(tg.last_update_id)
        assert chat.store.get("incidents", incident["id"])["topic"] == "autumn-cafe"
        said = tg.bot_messages(forum.id)
        assert len(said) >= 4  # the live message, the topic question, the page, the answer's ack
        assert {m.message_thread_id for m in said} == {topic}, [(m.text[:40], m.message_thread_id) for m in said]
        assert tg.bot_messages(OPS_CHAT.id) == []


async def test_the_root_cause_and_the_prevention_are_asked_for_once(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    shown_steps = []
    while walk.incident["current"] < len(walk.incident["steps"]):
        shown_steps.append(walk.live().text)
        await walk.step()
    walk_text = "\n".join(shown_steps).lower()
    assert "analyse the root cause" not in walk_text and "decide how to prevent" not in walk_text
    await walk.resolve_and_write_up(root_cause="cron line deleted", prevention="cron in the checklist")
    asked = [m.text or "" for m in chat.bot_messages()]
    assert sum("What was the root cause?" in t for t in asked) == 1
    assert sum("what did the team decide to prevent" in t for t in asked) == 1


async def test_someone_without_a_username_shows_by_first_name(sandbox, make_settings) -> None:
    from bot.sandbox.runner import BotRunner
    from bot.sandbox.telegram import TgUser
    from conftest import Chat

    sora = TgUser(1004, "Sora", None, language_code="en")
    sandbox.telegram.add_chat(OPS_CHAT, sora)
    async with BotRunner(make_settings(OPERATOR_USER_IDS="1002,1004")) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats", user=sora)
        await walk.press("ack", user=sora)
        text = walk.live().text
        assert "Lead: Sora" in text and "Sora" in text.split("Opened:")[1]
        assert "tg:1004" not in "".join(m.text or "" for m in chat.bot_messages())
        assert walk.incident["lead"] == "tg:1004 Sora"


async def test_the_last_result_belongs_to_the_newest_step_and_its_label_ends_on_a_word(
        chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident token autumn-cafe")
    while walk.incident["steps"][walk.incident["current"]]["id"] != "issue-token":
        await walk.step()
    label = walk.live().text.split("Last result (", 1)[1].split(", @", 1)[0]
    assert label == "Read the token-renewal guide."  # the step before: the guide's result
    await walk.press("ok")  # the guidance step "issue a new token", done by hand
    after = walk.live().text
    assert "Last result" not in after, "the guide's result no longer reads as this step's"


def test_a_clipped_label_ends_on_a_whole_word() -> None:
    from bot.incidents.view import clip_words

    assert clip_words("Collect logs: gather the error log (last 200 lines) and the SF-* traces.", 48) == (
        "Collect logs: gather the error log (last 200…")
    assert clip_words("short", 48) == "short"
    assert clip_words("x" * 60, 48) == "x" * 47 + "…"  # one long word: cut where it must


async def test_buttons_two_or_three_a_row_with_the_checklist_apart(chat, sandbox) -> None:
    """At every state of a walk: no row over three, step actions first, then the incident's,
    then the checklist's ticks in rows of their own; no tick reads like a step's button."""
    walk = await open_incident(chat, "/incident token autumn-cafe")
    layouts = set()
    step_words: set[str] = set()
    tick_words: set[str] = set()
    while True:
        rows = [[(b["text"], b["callback_data"].split(":")[-1]) for b in row]
                for row in walk.live().button_rows()]
        layouts.add(tuple(tuple(row) for row in rows))
        kinds = ["tick" if all(v in ("k0", "k1") for _, v in row) else
                 "incident" if all(v in ("ack", "esc", "res") for _, v in row) else "step"
                 for row in rows]
        assert all(1 <= len(row) <= 3 for row in rows) and len(rows) <= 4, rows
        assert kinds == sorted(kinds, key=["step", "incident", "tick"].index), rows
        step_words |= {w.lower() for row, kind in zip(rows, kinds) if kind != "tick"
                       for text, _ in row for w in text.split()[1:]}
        tick_words |= {w.lower() for row, kind in zip(rows, kinds) if kind == "tick"
                       for text, _ in row for w in text.split()[1:]}
        if walk.incident["current"] >= len(walk.incident["steps"]):
            break
        step = walk.incident["steps"][walk.incident["current"]]
        if walk.has_button("cf"):
            await walk.press("cf")
        elif step["id"] == "set-expiry":
            await walk.press("run")  # the confirmation's buttons are checked on the next turn
        else:
            await walk.press("skip")
    assert any(any(v == "cf" for row in layout for _, v in row) for layout in layouts)
    assert any(any(v == "k1" for row in layout for _, v in row) for layout in layouts)
    # no checklist item reads like a step's button ("☐ Confirm normal operation", "⚠️ Confirm")
    assert not step_words & tick_words, step_words & tick_words


async def test_a_press_is_answered_at_once_while_the_groups_turns_are_taken(sandbox, make_settings) -> None:
    """The group at Telegram's limit (the fake refuses more than 6 a minute, and so does the bot)
    and 20 command replies waiting for their turn: a press is answered at once, and the live
    message shows what it did before those replies go out."""
    import time

    from bot.sandbox.runner import BotRunner
    from conftest import Chat

    async with BotRunner(make_settings(TELEGRAM_GROUP_MAX_RATE="6")) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        sandbox.telegram.set_group_limit(6)
        before = len(chat.bot_messages())
        queued = [chat.tg.send_message(OPS_CHAT, VIEWER, "/incidents") for _ in range(20)]
        started = time.monotonic()
        query = chat.tg.press_button(OPS_CHAT, ADMIN, walk.live().message_id, walk.button("ack"))
        assert await chat.tg.await_for(lambda: query in chat.tg.callback_answers, timeout=5)
        assert time.monotonic() - started < 1.0, "the answer waited for the group"
        assert await chat.tg.await_for(lambda: "Acknowledged" in walk.live().text, timeout=25)
        replies = [m for m in chat.bot_messages()[before:] if "Open incidents" in (m.text or "")]
        assert len(replies) < len(queued), "the live message went ahead of the queued replies"
        assert chat.tg.flood_refusals == 0
