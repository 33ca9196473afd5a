"""Walk an incident through its live message the way the on-call team does: by pressing buttons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.actions.catalog import effective
from bot.sandbox import ADMIN, OPS_CHAT
from bot.sandbox.telegram import SentMessage, TgUser


@dataclass
class Walk:
    chat: object  # tests.conftest.Chat
    ref: str
    results: dict[str, list[dict]] = field(default_factory=dict)  # action -> step states seen
    # steps the team skips unless it needs them ("Only if ... Otherwise skip")
    skip: frozenset[str] = frozenset({"config-rollback"})

    @property
    def incident(self) -> dict:
        """The incident's row as the store keeps it (JSON), read fresh."""
        store = self.chat.runner.application.bot_data["sunflow"].engine.store
        found = store.find("incidents", lambda d: d["ref"] == self.ref, limit=1)
        assert found, self.ref
        return found[0]

    def live(self) -> SentMessage:
        message = self.incident["message"]
        return self.chat.tg.message(message["chat_id"], message["message_id"])

    def button(self, verb: str, arg: int | None = None) -> str:
        """The callback data of the live message's button for `verb` (and arg)."""
        for _, data in self.live().buttons():
            parts = data.split(":")
            if parts[-1] == verb and (arg is None or int(parts[3]) == arg):
                return data
        raise AssertionError(f"no {verb} button on {self.ref}: {self.live().buttons()}")

    def has_button(self, verb: str) -> bool:
        return any(data.split(":")[-1] == verb for _, data in self.live().buttons())

    async def press(self, verb: str, *, user: TgUser = ADMIN, arg: int | None = None) -> dict:
        return await self.chat.press(self.live(), data=self.button(verb, arg), user=user)

    async def step(self, *, user: TgUser = ADMIN) -> tuple[dict, dict]:
        """Do the current step as the team would: run what the bot can run (confirming when
        asked), mark the rest done. The step and its state afterwards."""
        incident = self.incident
        index = incident["current"]
        step = incident["steps"][index]
        catalog = effective(self.chat.services.scripts.bound())  # the team's scripts included
        spec = catalog.get(step["action"]) if step["action"] else None
        if step["id"] in self.skip:
            await self.press("skip", user=user)
        elif spec is not None and not spec.planned:
            await self.press("run", user=user)
            if self.incident["step_state"][index]["status"] == "confirming":
                await self.press("cf", user=user)
        else:
            await self.press("ok", user=user)
        state = self.incident["step_state"][index]
        if step["action"]:
            self.results.setdefault(step["action"], []).append(state)
        return step, state

    async def walk(self, *, until_phase: str | None = None,
                   before_phase: Callable[[str], None] | None = None) -> None:
        """Step through to the end (or to the first step of `until_phase`)."""
        seen_phase = None
        while self.incident["current"] < len(self.incident["steps"]):
            incident = self.incident
            phase = incident["steps"][incident["current"]]["phase"]
            if phase == until_phase:
                return
            if phase != seen_phase and before_phase is not None:
                before_phase(phase)
            seen_phase = phase
            before = incident["current"]
            step, state = await self.step()
            if self.incident["current"] == before:
                raise AssertionError(f"{self.ref} stuck at {step['id']}: {state}")

    def result(self, action: str) -> dict:
        assert action in self.results, f"{action} never ran; ran: {sorted(self.results)}"
        return self.results[action][0]

    async def resolve_and_write_up(self, *, root_cause: str, prevention: str,
                                   user: TgUser = ADMIN) -> SentMessage:
        """Resolve, answer the two questions by replying; the post-mortem document."""
        await self.press("res", user=user)
        assert self.incident["status"] == "resolved"
        question = self.chat.tg.message(OPS_CHAT.id, self.incident["pending_reply"]["message_id"])
        await self.chat.send(root_cause, user=user, reply_to=question.message_id)
        question = self.chat.tg.message(OPS_CHAT.id, self.incident["pending_reply"]["message_id"])
        sent = await self.chat.send(prevention, user=user, reply_to=question.message_id)
        documents = [m for m in sent if m.document is not None]
        assert documents, "no post-mortem document was sent"
        return documents[-1]


async def open_incident(chat, text: str, *, user: TgUser = ADMIN) -> Walk:
    """Send `/incident ...`; the Walk for the incident whose live message appeared."""
    sent = await chat.send(text, user=user)
    live = [m for m in sent if any(d.startswith("v1:i:") for _, d in m.buttons())]
    assert live, f"no live message after {text!r}: {[m.text for m in sent]}"
    ref = live[-1].text.split(" · ")[0].split()[-1]
    return Walk(chat, ref)
