"""The incident flows' ports in memory: a notifier that remembers what it was asked to say, and
a scheduler whose jobs run when the test says the time has come. No Telegram in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.incidents.engine import IncidentEngine
from bot.incidents.model import Incident
from bot.incidents.ports import NotDelivered, Notice, Work


@dataclass
class Sent:
    kind: str  # post, say, page, question, file
    ref: str
    notice: Notice | None = None
    detail: dict = field(default_factory=dict)


class MemoryNotifier:
    """Reaches "the team" by appending to `sent`; `down = True` makes every send fail."""

    def __init__(self, engine: IncidentEngine) -> None:
        self.engine = engine
        self.sent: list[Sent] = []
        self.shown: list[int] = []
        self.progress: list[str] = []  # every running step's progress the live message was shown
        self.down = False
        self._ids = 100

    def _next_id(self) -> int:
        if self.down:
            raise NotDelivered("the memory notifier is down")
        self._ids += 1
        return self._ids

    async def post(self, incident: Incident) -> Incident:
        message_id = self._next_id()
        self.sent.append(Sent("post", incident.ref, detail={"message_id": message_id}))
        return self.engine.set_message(incident.id, chat_id=1, message_id=message_id, thread_id=None)

    def show(self, doc_id: int, *, known: Incident | None = None) -> None:
        self.shown.append(doc_id)
        shown = known or self.engine.get(doc_id)
        for state in shown.step_state if shown is not None else ():
            if state.progress:
                self.progress.append(state.progress)

    async def say(self, incident: Incident, notice: Notice) -> None:
        self._next_id()
        self.sent.append(Sent("say", incident.ref, notice))

    async def page(self, incident: Incident, people: frozenset[int], notice: Notice, *,
                   stage: str) -> bool:
        if self.down:
            return False
        self.sent.append(Sent("page", incident.ref, notice, {"people": people, "stage": stage}))
        return True

    async def question(self, incident: Incident, notice: Notice, *, to: str) -> int:
        question = self._next_id()
        self.sent.append(Sent("question", incident.ref, notice, {"to": to, "id": question}))
        return question

    def deliver(self, doc_id: int) -> None:
        if self.down:
            return
        incident = self.engine.get(doc_id)
        for entry in incident.owed if incident else ():
            content = self.engine.store.document(entry.file)
            self.sent.append(Sent("file", incident.ref, detail={
                "filename": entry.filename, "content": content}))
            self.engine.delivered(doc_id, entry.file)

    def of_kind(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]


class MemoryScheduler:
    """Jobs by name; `run_due(now)` runs those due by then, earliest first, including any a job
    schedules for a time not after `now`."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[datetime, Work]] = {}

    def at(self, name: str, due: datetime, work: Work) -> None:
        self.jobs[name] = (due, work)

    def cancel(self, prefix: str) -> None:
        for name in [n for n in self.jobs if n.startswith(prefix)]:
            del self.jobs[name]

    async def run_due(self, now: datetime) -> list[str]:
        ran = []
        while True:
            due = sorted((when, name) for name, (when, _) in self.jobs.items() if when <= now)
            if not due:
                return ran
            name = due[0][1]
            _, work = self.jobs.pop(name)
            ran.append(name)
            await work()
