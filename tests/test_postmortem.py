"""The written post-mortem: every section, in Korean and English, with times the team can read."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.incidents.postmortem import md_block, postmortem_filename, render_postmortem
from bot.incidents.record import record_problem
from bot.incidents.stored import from_doc

SEOUL = ZoneInfo("Asia/Seoul")
OPENED = datetime(2026, 11, 27, 16, 45, 27, 123456, tzinfo=timezone.utc)  # 01:45 on the 28th in Seoul
ADMIN = "tg:1001 @mina_admin"
OPERATOR = "tg:2001 @joon_ops"
ROOT_CAUSE = (
    "# The 60-day token expired\n"
    "Nobody renewed it | the expiry alert was off.\n"
    "\n"
    "- owner: *nobody*\n"
    "1. reminder missing\n"
    "```\n"
    "<b>not html</b> &amp; [a link](http://example.invalid)"
)
PREVENTION = "Turn the expiry alert on.\n## Check the token every Monday"
NOT_IN_THE_FILE = "hidden-detail-value-7f3a"


def _item(item_id: str, ko: str, en: str, *ticked_by: str) -> dict:
    return {"id": item_id, "text": {"ko": ko, "en": en}, "ticked_by": list(ticked_by)}


# The record's own copy of the checklists, as the engine makes it at open.
CHECKLISTS = {
    "during": [_item("health", "헬스체크 실행", "Run the health check", "action:health.check"),
               _item("recovery", "복구 시도", "Attempt recovery", "phase:respond"),
               _item("verify", "검증 테스트", "Verification test", "verified"),
               _item("analysis", "사후 분석", "Post-incident analysis", "postmortem")],
    "recovery": [_item("normal", "정상 동작 확인", "Confirm normal operation", "verified", "manual"),
                 _item("queued", "대기 중 작업 처리", "Process the queued work", "manual"),
                 _item("notify", "알림 전송", "Send a notification", "resolved", "manual")],
}


def _at(**offset: float) -> str:
    return (OPENED + timedelta(**offset)).isoformat()


def _step(step_id: str, phase: str, ko: str, en: str, action: str | None) -> dict:
    return {"id": step_id, "phase": phase, "text": {"ko": ko, "en": en}, "action": action, "args": {},
            "admin": False, "confirm": False, "command": None}


def _state(status: str, by: str | None = None, at: str | None = None, outcome: str | None = None,
           summary: str | None = None, runs: int = 0) -> dict:
    return {"status": status, "by": by, "at": at, "outcome": outcome, "summary": summary, "runs": runs}


def _resolved_incident() -> dict:
    """Scenario 1 as it went: acknowledged after 12 min, steps run, resolved after 1 h 5 min."""
    steps = [
        _step("status", "diagnose", "토큰 상태 확인", "Check the token status", "token.status"),
        _step("guide", "respond", "토큰 갱신 가이드 확인", "Read the token-renewal guide", "token.guide"),
        _step("issue", "respond", "새 토큰 발급 (Meta Developer Console)",
              "Issue a new token (Meta Developer Console)", None),
        _step("retry", "respond", "게시 재시도", "Retry publishing", "publish.retry"),
        _step("verify", "verify", "토큰 상태 재확인", "Check the token again", "token.status"),
        _step("alert", "prevent", "60일 토큰 만료 알림 설정", "Turn on the expiry alert for the 60-day token", None),
    ]
    step_state = [
        _state("done", "bot", _at(minutes=1), "fail", "token expired (190/463)", 1),
        _state("done", ADMIN, _at(minutes=14), "ok", "renewal guide shown", 1),
        _state("skipped", ADMIN, _at(minutes=20)),
        _state("done", OPERATOR, _at(minutes=50), "ok", "published 1 post | media 17890", 2),
        _state("done", ADMIN, _at(minutes=64), "ok", "valid, 59 days left", 1),
        _state("pending"),
    ]
    timeline = [
        {"at": _at(), "actor": "bot", "event": "opened", "detail": {}},
        {"at": _at(), "actor": "bot", "event": "escalation", "detail": {"stage": "alert"}},
        {"at": _at(minutes=1), "actor": "bot", "event": "step.result",
         "detail": {"step": "status", "outcome": "fail", "summary": "token expired (190/463)"}},
        {"at": _at(minutes=12), "actor": ADMIN, "event": "acknowledged", "detail": {}},
        {"at": _at(minutes=14), "actor": ADMIN, "event": "step.run", "detail": {"step": "guide"}},
        {"at": _at(minutes=20), "actor": ADMIN, "event": "step.skipped", "detail": {"step": "issue"}},
        {"at": _at(minutes=25), "actor": ADMIN, "event": "severity", "detail": {"from": "P1", "to": "P0"}},
        {"at": _at(minutes=30), "actor": "bot", "event": "escalation", "detail": {"stage": "retries"}},
        {"at": _at(minutes=40), "actor": "bot", "event": "linked", "detail": {"ref": "INC-20261128-002"}},
        {"at": _at(minutes=50), "actor": OPERATOR, "event": "step.result",
         "detail": {"step": 3, "outcome": "ok", "summary": "published 1 post | media 17890"}},
        {"at": _at(minutes=52), "actor": "@sora", "event": "linked", "detail": {"topic": "spring-sale"}},
        {"at": _at(minutes=55), "actor": ADMIN, "event": "checklist.ticked", "detail": {"list": "recovery", "item": "queued"}},
        {"at": _at(minutes=64), "actor": ADMIN, "event": "step.done", "detail": {"step": "verify"}},
        {"at": _at(hours=1, minutes=5), "actor": ADMIN, "event": "resolved", "detail": {}},
        {"at": _at(hours=1, minutes=20), "actor": ADMIN, "event": "postmortem.root_cause", "detail": {}},
        {"at": _at(hours=1, minutes=21), "actor": ADMIN, "event": "postmortem.prevention", "detail": {}},
        # an event this renderer has never heard of: named, its detail never dumped
        {"at": _at(hours=1, minutes=22), "actor": ADMIN, "event": "token.applied",
         "detail": {"value": NOT_IN_THE_FILE}},
    ]
    return {
        "id": 7, "ref": "INC-20261128-001", "scenario": "token-expired", "scenario_number": 1,
        "title": {"ko": "Instagram 토큰 만료", "en": "Instagram token expired"},
        "severity": "P0", "status": "resolved", "topic": "winter-sale",
        "opened_at": _at(), "opened_by": "bot",
        "acknowledged_at": _at(minutes=12), "lead": ADMIN, "mitigating_at": _at(minutes=14),
        "resolved_at": _at(hours=1, minutes=5), "resolved_by": ADMIN, "resolve_override": None,
        "steps": steps, "step_state": step_state, "current": 5,
        "checklists": CHECKLISTS,
        "checklist": {"during": [], "recovery": ["queued"]},
        "trace_ids": ["SF-20261127-0041", "SF-20261127-0042"],
        "timeline": timeline,
        "escalation": [], "message": {"chat_id": -100, "message_id": 5, "thread_id": None},
        "pending_reply": None, "owed": [],
        "linked": ["INC-20261128-002"],
        "postmortem": {"root_cause": ROOT_CAUSE, "prevention": PREVENTION, "written_at": None,
                       "filename": None, "markdown": None},
        "prevention_items": [{"ko": "60일 토큰 만료 알림 설정", "en": "Turn on the expiry alert for the 60-day token"},
                             {"ko": "매주 토큰 상태 점검", "en": "Check the token status weekly"}],
    }


EXPECTED = {
    "en": {
        "title": "# Post-mortem: INC-20261128-001 — Instagram token expired (P0)",
        "headings": ["Summary", "Impact window", "Response times", "Timeline", "Actions run and their results",
                     "Trace ids", "Prevention items (runbook)", "Root cause", "Prevention decided", "Checklists"],
        "fields": ["- **Scenario:** 1. Instagram token expired (token-expired)",
                   "- **Topic:** winter-sale",
                   "- **Severity:** P0 — service down",
                   "- **Status:** Resolved",
                   "- **Lead:** @mina\\_admin",
                   "- **Linked reports:** INC-20261128-002",
                   "- **Opened:** 2026-11-28 01:45 KST",
                   "- **Resolved:** 2026-11-28 02:50 KST",
                   "- **Duration:** 1 h 5 min",
                   "- **Time to acknowledge:** 12 min",
                   "- **Time to resolve:** 1 h 5 min",
                   "- **Playbook response time:** immediately"],
        "timeline": ["| 2026-11-28 01:45:27 KST | bot | Incident opened |",
                     "| 2026-11-28 01:45:27 KST | bot | Escalation: alert in the group |",
                     "| 2026-11-28 01:46:27 KST | bot | Result of “Check the token status”: failed — token expired (190/463) |",
                     "| 2026-11-28 01:57:27 KST | @mina\\_admin | Acknowledged; took the lead |",
                     "| 2026-11-28 01:59:27 KST | @mina\\_admin | Ran: Read the token-renewal guide |",
                     "| 2026-11-28 02:05:27 KST | @mina\\_admin | Skipped: Issue a new token (Meta Developer Console) |",
                     "| 2026-11-28 02:10:27 KST | @mina\\_admin | Severity changed: P1 → P0 |",
                     "| 2026-11-28 02:15:27 KST | bot | Escalation: automatic retries checked, reminder |",
                     "| 2026-11-28 02:25:27 KST | bot | A later report was linked: INC-20261128-002 |",
                     "| 2026-11-28 02:35:27 KST | @joon\\_ops | Result of “Retry publishing”: OK — published 1 post \\| media 17890 |",
                     "| 2026-11-28 02:37:27 KST | @sora | A later report was folded in (topic spring-sale) |",
                     "| 2026-11-28 02:40:27 KST | @mina\\_admin | Ticked (On recovery): Process the queued work |",
                     "| 2026-11-28 02:49:27 KST | @mina\\_admin | Done: Check the token again |",
                     "| 2026-11-28 02:50:27 KST | @mina\\_admin | Resolved |",
                     "| 2026-11-28 03:05:27 KST | @mina\\_admin | Root cause recorded |",
                     "| 2026-11-28 03:06:27 KST | @mina\\_admin | Prevention recorded |",
                     "| 2026-11-28 03:07:27 KST | @mina\\_admin | Event: token.applied |"],
        "actions": ["| Check the token status | `token.status` | failed | token expired (190/463) | bot | 2026-11-28 01:46 KST |",
                    "| Read the token-renewal guide | `token.guide` | OK | renewal guide shown | @mina\\_admin | 2026-11-28 01:59 KST |",
                    "| Retry publishing | `publish.retry` | OK (run 2 times) | published 1 post \\| media 17890 | @joon\\_ops | 2026-11-28 02:35 KST |",
                    "| Check the token again | `token.status` | OK | valid, 59 days left | @mina\\_admin | 2026-11-28 02:49 KST |"],
        "after_actions": ["Skipped steps:", "- Issue a new token (Meta Developer Console)", "Steps not reached: 1."],
        "prevention": ["- Turn on the expiry alert for the 60-day token", "- Check the token status weekly"],
        "footer": "_Written by SunFlow Ops at 2026-11-28 03:15 KST._",
    },
    "ko": {
        "title": "# 사후 보고서: INC-20261128-001 — Instagram 토큰 만료 (P0)",
        "headings": ["요약", "영향 시간", "대응 시간", "타임라인", "실행한 조치와 결과", "Trace ID",
                     "재발 방지 항목 (런북)", "근본 원인", "결정한 재발 방지책", "체크리스트"],
        "fields": ["- **시나리오:** 1. Instagram 토큰 만료 (token-expired)",
                   "- **토픽:** winter-sale",
                   "- **등급:** P0 — 서비스 중단",
                   "- **상태:** 해결됨",
                   "- **담당자:** @mina\\_admin",
                   "- **연결된 보고:** INC-20261128-002",
                   "- **발생:** 2026-11-28 01:45 KST",
                   "- **해결:** 2026-11-28 02:50 KST",
                   "- **지속 시간:** 1시간 5분",
                   "- **인지까지 걸린 시간:** 12분",
                   "- **해결까지 걸린 시간:** 1시간 5분",
                   "- **플레이북 대응 시간:** 즉시"],
        "timeline": ["| 2026-11-28 01:45:27 KST | 봇 | 장애 등록 |",
                     "| 2026-11-28 01:45:27 KST | 봇 | 에스컬레이션: 그룹 알림 |",
                     "| 2026-11-28 01:46:27 KST | 봇 | “토큰 상태 확인” 결과: 실패 — token expired (190/463) |",
                     "| 2026-11-28 01:57:27 KST | @mina\\_admin | 인지, 담당자 지정 |",
                     "| 2026-11-28 01:59:27 KST | @mina\\_admin | 실행: 토큰 갱신 가이드 확인 |",
                     "| 2026-11-28 02:05:27 KST | @mina\\_admin | 건너뜀: 새 토큰 발급 (Meta Developer Console) |",
                     "| 2026-11-28 02:10:27 KST | @mina\\_admin | 등급 변경: P1 → P0 |",
                     "| 2026-11-28 02:15:27 KST | 봇 | 에스컬레이션: 자동 재시도 확인, 리마인더 |",
                     "| 2026-11-28 02:25:27 KST | 봇 | 이후 보고 연결: INC-20261128-002 |",
                     "| 2026-11-28 02:35:27 KST | @joon\\_ops | “게시 재시도” 결과: 정상 — published 1 post \\| media 17890 |",
                     "| 2026-11-28 02:37:27 KST | @sora | 이후 보고 병합 (토픽 spring-sale) |",
                     "| 2026-11-28 02:40:27 KST | @mina\\_admin | 체크 (복구 완료 시): 대기 중 작업 처리 |",
                     "| 2026-11-28 02:49:27 KST | @mina\\_admin | 완료: 토큰 상태 재확인 |",
                     "| 2026-11-28 02:50:27 KST | @mina\\_admin | 해결 |",
                     "| 2026-11-28 03:05:27 KST | @mina\\_admin | 근본 원인 기록 |",
                     "| 2026-11-28 03:06:27 KST | @mina\\_admin | 재발 방지책 기록 |",
                     "| 2026-11-28 03:07:27 KST | @mina\\_admin | 이벤트: token.applied |"],
        "actions": ["| 토큰 상태 확인 | `token.status` | 실패 | token expired (190/463) | 봇 | 2026-11-28 01:46 KST |",
                    "| 토큰 갱신 가이드 확인 | `token.guide` | 정상 | renewal guide shown | @mina\\_admin | 2026-11-28 01:59 KST |",
                    "| 게시 재시도 | `publish.retry` | 정상 (2회 실행) | published 1 post \\| media 17890 | @joon\\_ops | 2026-11-28 02:35 KST |",
                    "| 토큰 상태 재확인 | `token.status` | 정상 | valid, 59 days left | @mina\\_admin | 2026-11-28 02:49 KST |"],
        "after_actions": ["건너뛴 단계:", "- 새 토큰 발급 (Meta Developer Console)", "진행하지 않은 단계 1개."],
        "prevention": ["- 60일 토큰 만료 알림 설정", "- 매주 토큰 상태 점검"],
        "footer": "_SunFlow Ops가 2026-11-28 03:15 KST에 작성._",
    },
}


def _render(incident: dict, lang: str, **kwargs) -> str:
    """The stored record (JSON, as the fixtures write it) rendered as the engine reads it."""
    return render_postmortem(from_doc(incident), lang=lang, tz=SEOUL, now=OPENED + timedelta(hours=1, minutes=30), **kwargs)


def _section(doc: str, heading: str) -> list[str]:
    """The lines of one `## heading` section, without blank lines."""
    lines = doc.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


def _cells(row: str) -> list[str]:
    """A GFM table row split the way a renderer splits it: on pipes not escaped with a backslash."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_section_renders_with_durations_and_seoul_times(lang: str) -> None:
    expected = EXPECTED[lang]
    doc = _render(_resolved_incident(), lang)
    lines = doc.splitlines()

    assert lines[0] == expected["title"]
    assert [line[3:] for line in lines if line.startswith("## ")] == expected["headings"]
    for field in expected["fields"]:
        assert field in lines, field

    timeline = _section(doc, expected["headings"][3])
    assert timeline[2:] == expected["timeline"]  # every entry, in order, after the header and rule
    assert all(len(_cells(row)) == 3 for row in timeline)

    actions = _section(doc, expected["headings"][4])
    assert actions[2:6] == expected["actions"]
    assert all(len(_cells(row)) == 6 for row in actions[:6])
    assert actions[6:] == expected["after_actions"]

    assert _section(doc, expected["headings"][5]) == ["- SF-20261127-0041", "- SF-20261127-0042"]
    assert _section(doc, expected["headings"][6]) == expected["prevention"]
    assert lines[-1] == expected["footer"]
    assert NOT_IN_THE_FILE not in doc


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_what_the_team_wrote_is_kept_verbatim_but_cannot_reshape_the_document(lang: str) -> None:
    doc = _render(_resolved_incident(), lang)
    headings = EXPECTED[lang]["headings"]
    assert _section(doc, headings[7]) == [
        "\\# The 60-day token expired  ",
        "Nobody renewed it \\| the expiry alert was off.",
        "\\- owner: \\*nobody\\*  ",
        "1\\. reminder missing  ",
        "\\`\\`\\`  ",
        "\\<b\\>not html\\</b\\> \\&amp; \\[a link\\](http://example.invalid)",
    ]
    assert _section(doc, headings[8]) == ["Turn the expiry alert on.  ", "\\## Check the token every Monday"]
    # the only headings are the document's own: the team's '#' lines stayed text
    own = {EXPECTED[lang]["title"], *(f"## {h}" for h in headings)}
    assert {line for line in doc.splitlines() if line.startswith("#") and not line.startswith("###")} == own
    # no code fence opened by the text swallows the sections after it
    assert not any(line.startswith("```") for line in doc.splitlines())


def test_md_block_keeps_paragraphs_and_line_breaks() -> None:
    assert md_block("  first line\nsecond | line\n\n\n   + third  ") == (
        "first line  \nsecond \\| line\n\n\\+ third")
    assert md_block("   \n\n") == ""


def test_checklists_show_every_item_ticked_by_hand_or_by_what_the_record_shows() -> None:
    incident = _resolved_incident()
    assert _section(_render(incident, "ko"), "체크리스트")[:10] == [
        "### 장애 대응 시",
        "- [ ] 헬스체크 실행",   # no health.check step ran in this walk
        "- [x] 복구 시도",       # respond steps were done
        "- [x] 검증 테스트",     # every verify step passed
        "- [ ] 사후 분석",       # not written yet
        "### 복구 완료 시",
        "- [x] 정상 동작 확인",
        "- [x] 대기 중 작업 처리",  # ticked by hand
        "- [x] 알림 전송",
        "---"]
    # the handler stamps written_at before rendering the final document
    incident["postmortem"]["written_at"] = _at(hours=1, minutes=30)
    assert "- [x] Post-incident analysis" in _render(incident, "en").splitlines()


def test_a_record_without_checklist_copies_is_set_aside_not_rendered() -> None:
    """Every incident has its own copy of the checklists since they were copied at open; a
    stored one without them does not read as an incident, and the start-up check says so."""
    incident = _resolved_incident()
    del incident["checklists"]
    assert "checklists" in (record_problem(incident) or "")
    with pytest.raises(KeyError):
        from_doc(incident)


def _open_p1_incident() -> dict:
    incident = _resolved_incident()
    incident.update(severity="P1", status="open", acknowledged_at=None, lead=None, resolved_at=None,
                    resolved_by=None, trace_ids=[], linked=[], prevention_items=[],
                    checklist={"during": [], "recovery": []},  # nothing ticked by hand
                    timeline=incident["timeline"][:3],
                    postmortem={"root_cause": None, "prevention": None, "written_at": None,
                                "filename": None, "markdown": None})
    incident["step_state"] = [_state("done", "bot", _at(minutes=1), "fail", "token expired (190/463)", 1)] + [
        _state("pending") for _ in incident["steps"][1:]]
    return incident


def test_an_unfinished_incident_says_what_never_happened() -> None:
    doc = _render(_open_p1_incident(), "en")
    lines = doc.splitlines()
    for line in ["- **Status:** Open",
                 "- **Lead:** —",
                 "- **Resolved:** not yet (as of 2026-11-28 03:15 KST)",
                 "- **Duration:** 1 h 30 min so far",
                 "- **Time to acknowledge:** —",
                 "- **Time to resolve:** —",
                 "- **Playbook response time:** within 1 h"]:
        assert line in lines, line
    assert _section(doc, "Trace ids") == ["No trace ids were collected."]
    assert _section(doc, "Prevention items (runbook)") == ["The runbook lists no prevention items."]
    assert _section(doc, "Root cause") == ["_Not written._"]
    assert _section(doc, "Actions run and their results")[-1] == "Steps not reached: 5."
    assert "- [ ] Attempt recovery" in _section(doc, "Checklists")


@pytest.mark.parametrize(("ack_after", "verdict"), [(timedelta(minutes=50), "met"), (timedelta(minutes=75), "missed")])
def test_the_response_target_is_judged_against_the_playbook(ack_after: timedelta, verdict: str) -> None:
    incident = _open_p1_incident()
    incident.update(status="acknowledged", acknowledged_at=(OPENED + ack_after).isoformat(), lead=ADMIN)
    assert f"- **Playbook response time:** within 1 h: {verdict}" in _render(incident, "en").splitlines()
    assert f"- **플레이북 대응 시간:** 1시간 이내: {'충족' if verdict == 'met' else '초과'}" in _render(
        incident, "ko").splitlines()


def test_an_override_and_its_reason_are_on_the_record() -> None:
    incident = _resolved_incident()
    incident["resolve_override"] = "verified by hand | on the phone"
    incident["timeline"].append({"at": _at(hours=1, minutes=5), "actor": ADMIN, "event": "resolved",
                                 "detail": {"override": "verified by hand | on the phone"}})
    doc = _render(incident, "en")
    assert "- **Resolved without verification; reason:** verified by hand \\| on the phone" in doc.splitlines()
    assert ("| 2026-11-28 02:50:27 KST | @mina\\_admin | "
            "Resolved without verification; reason: verified by hand \\| on the phone |") in doc.splitlines()


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError):
        _render(_resolved_incident(), "fr")


def test_filename_is_the_ref_and_safe_on_any_file_system() -> None:
    def named(ref: str) -> str:
        return postmortem_filename(from_doc({**_resolved_incident(), "ref": ref, "id": 3}))

    assert named("INC-20261127-001") == "INC-20261127-001-postmortem.md"
    assert named("../INC 1/x") == "INC-1-x-postmortem.md"
    assert named("/") == "incident-3-postmortem.md"


@pytest.mark.parametrize(("event", "detail", "en", "ko"), [
    ("escalate.pressed", {"stage": "pd"}, "Escalated by hand: PD alerted", "수동 에스컬레이션: PD 알림"),
    ("step.cancelled", {"step": "retry"}, "Cancelled: Retry publishing", "취소: 게시 재시도"),
    ("step.confirm_asked", {"step": "retry"}, "Asked for confirmation: Retry publishing", "확인 요청: 게시 재시도"),
    ("step.interrupted", {}, "A running step was interrupted by a bot restart", "봇 재시작으로 실행 중이던 단계 중단"),
    ("resolve.override_asked", {}, "Asked for a reason to resolve without verification", "검증 없이 해결할 사유 요청"),
    ("checklist.unticked", {"list": "recovery", "item": "queued"},
     "Unticked (On recovery): Process the queued work", "체크 해제 (복구 완료 시): 대기 중 작업 처리"),
    ("topic", {"topic": "winter_sale"}, "Topic set: winter\\_sale", "토픽 지정: winter\\_sale"),
    ("postmortem.written", {"filename": "x.md"}, "Post-mortem written", "사후 보고서 작성"),
])
def test_every_event_the_engine_writes_reads_as_words(event: str, detail: dict, en: str, ko: str) -> None:
    incident = _resolved_incident()
    incident["timeline"] = [{"at": _at(minutes=3), "actor": ADMIN, "event": event, "detail": detail}]
    for lang, words in (("en", en), ("ko", ko)):
        rows = _section(_render(incident, lang), EXPECTED[lang]["headings"][3])[2:]
        assert rows == [f"| 2026-11-28 01:48:27 KST | @mina\\_admin | {words} |"]
