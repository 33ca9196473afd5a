"""The escalation clock on a fast clock (offsets shortened by settings), and restarts mid-walk."""

from __future__ import annotations

import asyncio
import time

from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT, private_chat
from bot.sandbox.runner import BotRunner
from tests.conftest import Chat
from tests.incident_walk import Walk, open_incident

FAST = {"ESCALATION_P2": "0s,1s,2s,3s", "PD_USER_IDS": str(OPERATOR.id)}


async def test_the_playbook_clock_fires_in_order(sandbox, make_settings) -> None:
    settings = make_settings(**FAST, ESCALATION_REMIND_EVERY="0.5s")
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        tg = chat.tg
        assert await tg.await_for(lambda: walk.incident["escalation"][3]["fired_at"], timeout=8)
        texts = [m.text or "" for m in tg.bot_messages(OPS_CHAT.id)]
        retries = [t for t in texts if "3 automatic retries" in t]
        assert retries and "nobody has acknowledged" in retries[0]
        reminders = [t for t in texts if "still not acknowledged" in t]
        assert reminders, "no reminder while unacknowledged"
        # the PD: a direct message and a mention in the group
        dm = [m.text for m in tg.bot_messages(private_chat(OPERATOR).id) if walk.ref in (m.text or "")]
        assert dm and "alerting the PD" in dm[0]
        pd_group = next(m for m in tg.bot_messages(OPS_CHAT.id) if "alerting the PD" in (m.text or ""))
        assert f"tg://user?id={OPERATOR.id}" in (pd_group.html or "")
        # four hours: the admins, manual intervention
        admin_dm = [m.text for m in tg.bot_messages(private_chat(ADMIN).id) if walk.ref in (m.text or "")]
        assert admin_dm and "Manual intervention needed" in admin_dm[0]
        stages = [e["detail"]["stage"] for e in walk.incident["timeline"] if e["event"] == "escalation"]
        assert stages == ["alert", "retries", "pd", "manual"]
        # acknowledging stops the reminders
        await walk.press("ack")
        count = len([t for t in (m.text or "" for m in tg.bot_messages(OPS_CHAT.id))
                     if "still not acknowledged" in t])
        await asyncio.sleep(1.5)
        after = len([t for t in (m.text or "" for m in tg.bot_messages(OPS_CHAT.id))
                     if "still not acknowledged" in t])
        assert after == count


async def test_resolving_stops_the_clock(sandbox, make_settings) -> None:
    # the stages fall due after the walk and the resolve are done even on a loaded machine
    # (CI under libfaketime took over a second for the walk), and the test waits past them all
    settings = make_settings(ESCALATION_P2="0s,4s,4.5s,5s", PD_USER_IDS=str(OPERATOR.id))
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        opened = time.monotonic()
        walk = await open_incident(chat, "/incident stats")
        await walk.walk()
        await walk.press("res")
        assert time.monotonic() - opened < 4, "too slow to tell: the retries stage fell due first"
        await asyncio.sleep(opened + 5.5 - time.monotonic())
        assert [e["stage"] for e in walk.incident["escalation"] if e["fired_at"]] == ["alert"]
        assert not [m for m in chat.tg.bot_messages(private_chat(OPERATOR).id) if walk.ref in (m.text or "")]


async def test_a_restart_mid_walkthrough_resumes_and_fires_what_fell_due(sandbox, make_settings) -> None:
    settings = make_settings(ESCALATION_P2="0s,2s,1h,4h")
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        for _ in range(3):
            await walk.step()
        live = walk.live()
        at_step = walk.incident["current"]
        # a crash while the next step was running: the record says "running"
        doc = walk.incident
        states = [dict(s) for s in doc["step_state"]]
        states[at_step]["status"] = "running"
        chat.store.update("incidents", doc["id"], {"step_state": states})
    stopped = time.monotonic()
    await asyncio.sleep(max(0.0, 2.5 - (time.monotonic() - stopped)))  # "retries" falls due while down

    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = Walk(chat, walk.ref)
        incident = walk.incident
        assert incident["step_state"][at_step]["status"] == "pending"
        assert any(e["event"] == "step.interrupted" for e in incident["timeline"])
        # the retries stage that fell due while the bot was down fires at start
        assert await chat.tg.await_for(lambda: walk.incident["escalation"][1]["fired_at"], timeout=5)
        # the same live message keeps working where it was
        assert walk.live().message_id == live.message_id
        await walk.step()
        assert walk.incident["current"] == at_step + 1
        # later stages are armed again (1 hour away), not fired
        assert walk.incident["escalation"][2]["fired_at"] is None
        jobs = [job.name for job in runner.application.job_queue.jobs()]
        assert f"inc:{incident['id']}:pd" in jobs and f"inc:{incident['id']}:manual" in jobs


async def test_a_stage_nobody_received_is_tried_again_not_lost(sandbox, make_settings,
                                                               monkeypatch) -> None:
    import bot.incidents.flows

    monkeypatch.setattr(bot.incidents.flows, "RETRY_UNDELIVERED_S", 0.5)
    async with BotRunner(make_settings(ESCALATION_P2="0s,1s,1h,4h")) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        sandbox.telegram.set_fault("5xx", methods=["sendMessage"])
        await asyncio.sleep(1.8)
        assert walk.incident["escalation"][1]["fired_at"] is None
        sandbox.telegram.clear_faults()
        assert await chat.tg.await_for(lambda: walk.incident["escalation"][1]["fired_at"], timeout=5)
        assert any("3 automatic retries" in (m.text or "") for m in chat.tg.bot_messages(OPS_CHAT.id))


async def test_escalate_pages_the_pd_at_once_and_a_double_tap_pages_once(sandbox, make_settings) -> None:
    async with BotRunner(make_settings(PD_USER_IDS=str(OPERATOR.id))) as runner:
        chat = Chat(sandbox, runner)
        walk = await open_incident(chat, "/incident stats")
        data = walk.button("esc")
        q1 = chat.tg.press_button(OPS_CHAT, OPERATOR, walk.live().message_id, data)
        q2 = chat.tg.press_button(OPS_CHAT, ADMIN, walk.live().message_id, data)
        assert await runner.wait_handled(chat.tg.last_update_id - 1)
        assert await runner.wait_handled(chat.tg.last_update_id)
        answers = [chat.tg.callback_answers[q] for q in (q1, q2)]
        assert sum("a moment ago" in a["text"] for a in answers) == 1, answers
        dm = [m.text for m in chat.tg.bot_messages(private_chat(OPERATOR).id) if walk.ref in (m.text or "")]
        assert len(dm) == 1 and "alerting the PD" in dm[0] and " escalated INC-" in dm[0]
        fired = [e["stage"] for e in walk.incident["escalation"] if e["fired_at"]]
        assert fired == ["alert", "pd"]  # the retry check keeps its own time
        pressed = [e for e in walk.incident["timeline"] if e["event"] == "escalate.pressed"]
        assert len(pressed) == 1 and pressed[0]["detail"]["stage"] == "pd"


async def test_an_alert_that_could_not_be_posted_keeps_the_clock_running(sandbox, make_settings,
                                                                       monkeypatch) -> None:
    import bot.incidents.flows

    monkeypatch.setattr(bot.incidents.flows, "RETRY_UNDELIVERED_S", 0.3)
    async with BotRunner(make_settings(ESCALATION_P2="0s,1s,1h,4h")) as runner:
        chat = Chat(sandbox, runner)
        sandbox.telegram.set_fault("5xx", methods=["sendMessage"], times=1)
        chat.tg.send_message(OPS_CHAT, ADMIN, "/incident stats")
        assert await runner.wait_handled(chat.tg.last_update_id)
        incident = chat.store.find("incidents")[0]
        assert incident["message"] is None and incident["escalation"][0]["fired_at"] is None
        # the clock's 0-minute alert posts the live message as soon as Telegram takes it
        walk = Walk(chat, incident["ref"])
        assert await chat.tg.await_for(lambda: walk.incident["message"] is not None, timeout=5)
        assert await chat.tg.await_for(lambda: walk.incident["escalation"][1]["fired_at"], timeout=5)
        assert walk.live().buttons()


async def test_a_reminder_falling_due_with_the_pd_stage_is_sent_once(sandbox, make_settings,
                                                                     monkeypatch) -> None:
    """Reminders every second from the retries check at 1 s; the PD stage at 2 s, with the
    second reminder. Writing down a reminder is slowed, so the PD stage re-arms the reminder
    from a record that does not hold it yet: the race that sent it twice."""
    settings = make_settings(ESCALATION_P2="0s,1s,2s,1h", PD_USER_IDS=str(OPERATOR.id),
                             ESCALATION_REMIND_EVERY="1s")
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        engine = runner.application.bot_data["sunflow"].engine
        noted = engine.note_reminder

        def slow_note(doc_id: int):
            time.sleep(0.4)
            return noted(doc_id)

        monkeypatch.setattr(engine, "note_reminder", slow_note)
        sent_at: list[float] = []
        chat.tg.subscribe(lambda kind, obj: sent_at.append(time.monotonic())
                          if kind == "sent" and "still not acknowledged" in (obj.text or "") else None)
        walk = await open_incident(chat, "/incident stats")
        await asyncio.sleep(4.5)
        await walk.press("ack")
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:])]
    assert len(sent_at) >= 2 and all(gap > 0.5 for gap in gaps), gaps
