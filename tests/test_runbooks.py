"""The runbook files: the shipped ones follow the playbook, broken ones are named, reload is safe."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.actions.registry import PLANNED, ActionSpec, Param
from bot.runbooks import (
    PHASES,
    Library,
    RunbookError,
    RunbookShelf,
    load_library,
)
from bot.runbooks.shelf import main

ROOT = Path(__file__).parents[1]
RUNBOOKS = ROOT / "runbooks"
PLAYBOOK_KO = ROOT / "docs" / "playbook" / "sunflow-incident-playbook.ko.md"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
COMPONENTS = ("instagram", "token", "cloudinary", "fal", "telegram", "stats", "logs", "store")


async def _never_run(ctx, args):
    raise AssertionError("loading runbooks never runs an action")


def _built(name: str, *, needs_topic: bool = False, **params: Param) -> ActionSpec:
    return ActionSpec(name, _never_run, params, needs_topic)


# The actions and parameters the actions issue registers (see the brief); the loader is checked
# against this mapping so these tests do not depend on which actions are built yet.
ACTIONS: Mapping[str, ActionSpec] = {
    "health.check": _built("health.check", components=Param(list, list(COMPONENTS), choices=COMPONENTS)),
    **{name: _built(name) for name in ("token.status", "token.guide", "stats.freshness",
                                       "cloudinary.usage", "instagram.quota", "telegram.test_message")},
    "token.set_expiry": _built("token.set_expiry", days=Param(int, 60, 1, 90)),
    "traces.list": _built("traces.list", limit=Param(int, 10, 1, 50)),
    "logs.tail": _built("logs.tail", lines=Param(int, 50, 1, 500), files=Param(str, "*_stderr.log")),
    "logs.grep": _built("logs.grep", pattern=Param(str, required=True), files=Param(str, "*.log"),
                        show=Param(int, 5, 1, 50)),
    "logs.collect": _built("logs.collect", lines=Param(int, 200, 1, 2000)),
    "images.local": _built("images.local", needs_topic=True, archive=Param(bool, False)),
    "publish.retry": _built("publish.retry", needs_topic=True),
    "publish.dry_run": _built("publish.dry_run", topic=Param(str, "test_topic")),
    "images.regenerate": _built("images.regenerate", needs_topic=True, all=Param(bool, False)),
    "images.use_archive": _built("images.use_archive", needs_topic=True),
    "cloudinary.upload": _built("cloudinary.upload", needs_topic=True),
    "stats.collect": _built("stats.collect", posts=Param(int, 25, 1, 100)),
    "publish.reschedule": _built("publish.reschedule", posts_per_day=Param(int, None, 1, 100)),
    "backup.restore": ActionSpec("backup.restore", _never_run, {"backup": Param(str, pattern=r"BK-\d{8}-\d{4,6}")},
                                 guarded=True),
    **{name: ActionSpec(name, None, {}, needs_topic)
       for name, needs_topic in PLANNED.items()},
}


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(RUNBOOKS, actions=ACTIONS)


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """A writable copy of the shipped runbook files."""
    target = tmp_path / "runbooks"
    target.mkdir()
    for path in RUNBOOKS.glob("*.toml"):
        shutil.copy(path, target / path.name)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> None:
    """Replace `old` (which must occur exactly once) in one runbook file."""
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems(directory: Path) -> list[str]:
    with pytest.raises(RunbookError) as caught:
        load_library(directory, actions=ACTIONS)
    assert caught.value.problems, "a RunbookError must say what is wrong"
    return caught.value.problems


def one(found: list[str], start: str, *fragments: str) -> str:
    """The problem that starts with `start` ("file: key") and says every fragment."""
    hits = [p for p in found if p.startswith(start) and all(f in p for f in fragments)]
    assert hits, f"no problem starting {start!r} with {fragments}; got:\n" + "\n".join(found)
    return hits[0]


# --- the shipped files follow the playbook ------------------------------------------------------

def test_six_scenarios_with_the_playbooks_numbers_and_severities(library: Library) -> None:
    assert [(rb.number, rb.id, rb.severity) for rb in library.runbooks.values()] == [
        (1, "token-expired", "P0"),
        (2, "cloudinary-upload", "P0"),
        (3, "image-generation", "P1"),
        (4, "rate-limit", "P1"),
        (5, "stats-collection", "P2"),
        (6, "telegram-notify", "P2"),
    ]
    assert library.runbooks["token-expired"].title.get("en") == "Instagram token expired"
    assert library.runbooks["token-expired"].title.get("ko") == "Instagram 토큰 만료"
    assert library.runbooks["rate-limit"].symptoms[0].en == "429 Too Many Requests."


def test_every_scenario_has_its_own_verify_step_before_the_common_ones(library: Library) -> None:
    for rb in library.runbooks.values():
        verify = [(s.id, s.source) for s in rb.steps if s.phase == "verify"]
        own = [sid for sid, source in verify if source == rb.path.name]
        assert own, rb.id
        # the scenario's own check first, then the common procedure's health check and dry run
        assert [sid for sid, _ in verify] == own + ["verify-health", "verify-dry-run"], rb.id


def test_walk_splices_the_common_procedure_around_the_scenario(library: Library) -> None:
    steps = library.find("token").steps
    assert [s.id for s in steps] == [
        "detect-health", "detect-traces", "check-token", "collect-logs",
        "read-guide", "issue-token", "update-env", "set-expiry", "retry-publish", "config-rollback",
        "verify-token", "verify-health", "verify-dry-run",
        "expiry-alert", "weekly-token-check", "post-record-mistake",
    ]
    phases = [s.phase for s in steps]
    assert phases == sorted(phases, key=PHASES.index)


def test_each_scenario_diagnoses_and_responds_with_the_playbooks_actions(library: Library) -> None:
    def own(rb_name: str, phase: str) -> list[tuple[str | None, dict]]:
        rb = library.find(rb_name)
        return [(s.action, dict(s.args)) for s in rb.steps
                if s.phase == phase and s.source == rb.path.name]

    assert own("1", "diagnose") == [("token.status", {})]
    assert own("2", "diagnose") == [("health.check", {"components": ["cloudinary"]})]
    assert own("3", "diagnose") == [("traces.list", {}), ("logs.tail", {"lines": 50})]
    assert own("4", "diagnose") == [("logs.grep", {"pattern": "429", "files": "*.log"}),
                                    ("instagram.quota", {})]
    assert own("5", "diagnose") == [("stats.freshness", {})]
    assert own("6", "diagnose") == [("health.check", {"components": ["telegram"]})]

    assert [a for a, _ in own("1", "respond")] == [
        "token.guide", None, None, "token.set_expiry", "publish.retry"]
    assert [a for a, _ in own("2", "respond")] == [
        None, "cloudinary.usage", "images.local", "cloudinary.upload"]
    assert own("3", "respond") == [(None, {}), ("images.regenerate", {}),
                                   ("images.local", {"archive": True}), ("images.use_archive", {})]
    # the backoff is described; the publish retries by the policy, or in an hour on a button
    assert [a for a, _ in own("4", "respond")] == [None, "publish.retry", "publish.reschedule"]
    assert [a for a, _ in own("5", "respond")] == ["stats.collect", "stats.daemon_restart"]
    assert [a for a, _ in own("6", "respond")] == [None, "telegram.restart", "telegram.test_message"]


def test_the_rate_limit_scenario_greps_the_logs_for_429(library: Library) -> None:
    grep = [s for s in library.find("rate-limit").steps if s.action == "logs.grep"]
    assert len(grep) == 1 and grep[0].args["pattern"] == "429"
    assert grep[0].command == 'grep "429" config/logs/*.log'


def test_image_scenario_lists_traces_once_and_mentions_the_fal_status_page(library: Library) -> None:
    rb = library.find("image")
    assert [s.action for s in rb.steps].count("traces.list") == 1
    assert "detect-traces" not in [s.id for s in rb.steps]
    status = next(s for s in rb.steps if s.id == "fal-status")
    assert status.action is None and "https://status.fal.ai" in status.text.ko
    assert "https://status.fal.ai" in status.text.en
    retry = next(s for s in rb.steps if s.action == "images.regenerate")
    assert "3" in retry.text.ko and "3" in retry.text.en


def test_rate_limit_wait_step_names_the_backoff(library: Library) -> None:
    wait = next(s for s in library.find("429").steps if s.id == "wait-backoff")
    for lang in ("ko", "en"):
        assert all(n in wait.text.get(lang) for n in ("5", "15", "30")), lang
        assert "RetryManager" in wait.text.get(lang)


def test_steps_that_change_things_need_an_admin_and_a_confirmation(library: Library) -> None:
    guarded = {(rb.number, s.action) for rb in library.runbooks.values() for s in rb.steps
               if s.admin and s.confirm}
    assert guarded == {(1, "token.set_expiry"), (2, "cloudinary.upload"), (4, "publish.reschedule"),
                       (5, "stats.daemon_restart"), (6, "telegram.restart"),
                       *((n, "backup.restore") for n in range(1, 7))}  # the common rollback
    env = next(s for s in library.find("1").steps if s.id == "update-env")
    assert env.admin and env.action is None and "INSTAGRAM_ACCESS_TOKEN" in env.text.en


def test_secrets_are_pointed_at_never_shown(library: Library) -> None:
    for name, variable in (("cloudinary", "CLOUDINARY_URL"), ("telegram", "TELEGRAM_BOT_TOKEN")):
        step = next(s for s in library.find(name).steps if s.phase == "respond")
        assert step.action is None, "the bot must not read the key for anyone"
        assert variable in step.text.ko and variable in step.text.en
        assert "never shows" in step.text.en


def test_all_text_is_there_in_korean_and_english(library: Library) -> None:
    texts = [item.text for item in library.during + library.recovery]
    for rb in library.runbooks.values():
        texts += [rb.title, *rb.symptoms]
        for step in rb.steps:
            texts.append(step.text)
            assert HANGUL.search(step.text.ko), (rb.id, step.id, "Korean text is not Korean")
    for text in texts:
        assert text.ko.strip() and text.en.strip()
        assert not HANGUL.search(text.en), f"Korean left in the English text: {text.en!r}"
        # a step text is a chat line, not a page
        assert len(text.ko) <= 200 and len(text.en) <= 200, text


# Commands are shown in both languages, so the playbook's Korean sample values are neutral there.
NEUTRAL = {'"<new token>"': '"새_토큰"', "('test')": "('테스트')"}


def test_manual_commands_are_the_playbooks_own(library: Library) -> None:
    playbook = re.sub(r"\s+", "", PLAYBOOK_KO.read_text(encoding="utf-8"))
    commands = {s.command for rb in library.runbooks.values() for s in rb.steps if s.command}
    assert len(commands) >= 15
    for command in commands:
        assert not HANGUL.search(command), command
        for neutral, original in NEUTRAL.items():
            command = command.replace(neutral, original)
        for part in command.split(";"):
            assert re.sub(r"\s+", "", part) in playbook, command


def test_every_prevention_item_of_the_playbook_is_a_prevent_step(library: Library) -> None:
    expected = {
        1: ["토큰 만료 60일 전 알림", "토큰 상태를 매주 확인"],
        2: ["사용량을 모니터링", "백업 CDN"],
        3: ["이미지를 사전 생성", "재시도 로직을 활성화"],
        4: ["일일 게시 1건", "댓글 응답 속도를 제한"],
        5: ["데몬 상태를 모니터링", "헬스체크에 포함"],
        6: ["봇 상태를 주기적으로 확인", "대체 알림 채널"],
    }
    for rb in library.runbooks.values():
        prevention = rb.prevention()
        assert all(s.phase == "prevent" and s.action is None for s in prevention)
        own = [s.text.ko for s in prevention if s.source == rb.path.name]
        assert len(own) == len(expected[rb.number]), rb.id
        assert all(fragment in text for fragment, text in zip(expected[rb.number], own)), own
        # the root cause and the prevention are asked once, after Resolve: not walk steps too
        assert [s.id for s in prevention][-1:] == ["post-record-mistake"]


def test_find_by_id_alias_or_number_ignoring_case(library: Library) -> None:
    assert library.find("token-expired").number == 1
    assert library.find("TOKEN").number == 1
    assert library.find("토큰").number == 1
    assert library.find(" 4 ").id == "rate-limit"
    assert library.find("429").id == "rate-limit"
    assert library.find("Telegram").id == "telegram-notify"
    assert library.find("7") is None and library.find("nope") is None


def test_needs_topic_follows_the_actions(library: Library) -> None:
    assert library.find("1").needs_topic  # publish.retry needs the topic
    assert library.find("2").needs_topic  # images.local, cloudinary.upload
    assert not library.find("5").needs_topic
    assert not library.find("6").needs_topic


def test_checklists_tick_as_the_playbook_lists_them(library: Library) -> None:
    assert [(i.text.ko, i.ticked_by) for i in library.during] == [
        ("헬스체크 실행", ("action:health.check",)),
        ("에러 로그 확인", ("action:logs.tail", "action:logs.grep", "action:logs.collect")),
        ("Trace ID 수집", ("action:traces.list", "action:logs.collect")),
        ("복구 시도", ("phase:respond",)),
        ("검증 테스트", ("verified",)),
        ("사후 분석", ("postmortem",)),
    ]
    assert [(i.text.en, i.ticked_by) for i in library.recovery] == [
        ("Confirm normal operation", ("verified", "manual")),
        ("Process the work that queued up", ("manual",)),
        ("Send a notification", ("resolved", "manual")),
        ("Write it up", ("postmortem",)),
    ]


def test_digest_is_a_short_version_that_changes_with_the_files(books: Path, library: Library) -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", library.digest)
    assert load_library(books, actions=ACTIONS).digest == library.digest
    edit(books, "stats-collection.toml", 'en = "Collect by hand."', 'en = "Collect the stats by hand."')
    assert load_library(books, actions=ACTIONS).digest != library.digest


def test_the_authoring_guide_documents_every_action_and_key() -> None:
    guide = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for name, spec in ACTIONS.items():
        assert f"`{name}`" in guide, name
        for param in spec.params:
            assert f"`{param}`" in guide, (name, param)
    for key in ("id", "number", "severity", "aliases", "needs_topic", "skip_common", "title",
                "symptoms", "steps", "phase", "text", "action", "args", "admin", "confirm", "next",
                "command", "placement", "ticked_by", "/runbooks reload"):
        assert f"`{key}`" in guide, key
    for rule in ("action:", "phase:", "verified", "resolved", "postmortem", "manual"):
        assert rule in guide, rule


def test_the_shipped_files_load_against_the_registered_actions() -> None:
    import bot.actions  # noqa: F401  (registers every built action)
    from bot.actions.catalog import all_actions

    registered = all_actions()

    # the mirror above says what the real registry says, so the checks below test the real thing
    assert set(registered) >= set(ACTIONS)
    for name, spec in ACTIONS.items():
        real = registered[name]
        assert (real.planned, real.needs_topic) == (spec.planned, spec.needs_topic), name
        assert {k: (p.kind, p.low, p.high, p.choices) for k, p in real.params.items()} == {
            k: (p.kind, p.low, p.high, p.choices) for k, p in spec.params.items()}, name
    library = load_library(RUNBOOKS)
    assert [rb.id for rb in library.runbooks.values()] == [
        rb.id for rb in load_library(RUNBOOKS, actions=ACTIONS).runbooks.values()]


# --- every validation error names the file and the key ------------------------------------------

def test_toml_syntax_error_names_file_and_line(books: Path) -> None:
    edit(books, "token-expired.toml", 'severity = "P0"', 'severity = P0"')
    found = problems(books)
    assert one(found, "token-expired.toml: line 4, column", "TOML syntax error")


def test_missing_and_unknown_top_level_keys(books: Path) -> None:
    edit(books, "token-expired.toml", 'severity = "P0"\n', 'owner = "kim"\n')
    found = problems(books)
    one(found, "token-expired.toml: severity: missing")
    one(found, "token-expired.toml: owner: unknown key", "known: id, number")


def test_id_must_equal_the_file_name(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "token-expired"', 'id = "token-expiry"')
    one(problems(books), "token-expired.toml: id:", "'token-expiry'", "'token-expired'")


def test_unknown_severity(books: Path) -> None:
    edit(books, "stats-collection.toml", 'severity = "P2"', 'severity = "P5"')
    one(problems(books), "stats-collection.toml: severity: unknown severity 'P5'", "P0, P1, P2, P3")


def test_duplicate_number(books: Path) -> None:
    edit(books, "stats-collection.toml", "number = 5", "number = 1")
    one(problems(books), "", ": number: duplicate number 1", "stats-collection.toml",
        "token-expired.toml")


@pytest.mark.parametrize(("aliases", "says"), [
    ('["token", "토큰", "stats-collection"]', "alias 'stats-collection' clashes with the id of "
                                             "stats-collection.toml"),
    ('["token", "토큰", "5"]', "alias '5' clashes with the number of stats-collection.toml"),
    ('["token", "토큰", "STATS"]', "alias 'STATS' clashes with the alias of stats-collection.toml"),
    ('["token", "토큰", "Token"]', "duplicate alias 'Token'"),
])
def test_duplicate_or_clashing_alias(books: Path, aliases: str, says: str) -> None:
    edit(books, "token-expired.toml", 'aliases = ["token", "토큰"]', f"aliases = {aliases}")
    one(problems(books), "token-expired.toml: aliases[2]:", says)


def test_an_alias_may_repeat_its_own_number(books: Path) -> None:
    edit(books, "token-expired.toml", 'aliases = ["token", "토큰"]', 'aliases = ["token", "1"]')
    assert load_library(books, actions=ACTIONS).find("1").id == "token-expired"


def test_missing_translation(books: Path) -> None:
    edit(books, "token-expired.toml", 'en = "Retry publishing."\n', "")
    edit(books, "checklists.toml", 'ko = "문서화"', 'ko = " "')
    edit(books, "token-expired.toml", 'ko = "Instagram 토큰 만료"\n',
         'ko = "Instagram 토큰 만료"\nja = "x"\n')
    found = problems(books)
    one(found, "token-expired.toml: steps[5].text.en: missing translation")
    one(found, "checklists.toml: recovery[3].text.ko: missing translation")
    one(found, "token-expired.toml: title.ja: unknown language")


def test_text_too_long_for_a_chat_message(books: Path) -> None:
    edit(books, "token-expired.toml", 'en = "Retry publishing."', f'en = "{"x" * 601}"')
    one(problems(books), "token-expired.toml: steps[5].text.en: too long for a chat message")


def test_a_required_argument_is_missing(books: Path) -> None:
    edit(books, "rate-limit.toml", 'pattern = "429"', 'show = 5')
    one(problems(books), "rate-limit.toml: steps", "argument 'pattern' is required")


def test_duplicate_step_id(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "issue-token"', 'id = "read-guide"')
    one(problems(books), "token-expired.toml: steps[2].id: duplicate step id 'read-guide'",
        "also steps[1]")


def test_step_id_clashing_with_a_common_step(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "verify-token"', 'id = "verify-health"')
    one(problems(books), "token-expired.toml: steps[6].id: step id 'verify-health' is already a "
        "common step", "common.toml steps[4]")


def test_bad_step_id(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "check-token"', 'id = "Check Token"')
    one(problems(books), "token-expired.toml: steps[0].id: bad step id 'Check Token'")


def test_unknown_phase(books: Path) -> None:
    edit(books, "rate-limit.toml", 'id = "grep-429"\nphase = "diagnose"',
         'id = "grep-429"\nphase = "diagnosis"')
    one(problems(books), "rate-limit.toml: steps[0].phase: unknown phase 'diagnosis'",
        "did you mean 'diagnose'")


def test_phases_out_of_order(books: Path) -> None:
    edit(books, "stats-collection.toml", 'id = "check-freshness"\nphase = "diagnose"',
         'id = "check-freshness"\nphase = "verify"')
    one(problems(books), "stats-collection.toml: steps[1].phase: phase 'respond' comes after a "
        "'verify' step (steps[0])")


def test_unknown_action(books: Path) -> None:
    edit(books, "token-expired.toml", 'action = "token.status"\ncommand = "python core/utils/'
         'token_monitor.py status"\n[steps.text]\nko = "토큰 상태를 확인',
         'action = "token.statsu"\ncommand = "python core/utils/token_monitor.py status"\n'
         '[steps.text]\nko = "토큰 상태를 확인')
    one(problems(books), "token-expired.toml: steps[0].action: unknown action 'token.statsu'",
        "did you mean 'token.status'", "known: ")


def test_bad_args_for_the_action(books: Path) -> None:
    edit(books, "token-expired.toml", "args = { days = 60 }", "args = { days = 120, weeks = 2 }")
    edit(books, "cloudinary-upload.toml", 'id = "check-cloudinary"\nphase = "diagnose"\n'
         'action = "health.check"\nargs = { components = ["cloudinary"] }',
         'id = "check-cloudinary"\nphase = "diagnose"\naction = "health.check"\n'
         'args = { components = ["cloudinary", "cdn"] }')
    edit(books, "stats-collection.toml", 'id = "monitor-daemon"\nphase = "prevent"',
         'id = "monitor-daemon"\nphase = "prevent"\nargs = { lines = 5 }')
    found = problems(books)
    one(found, "token-expired.toml: steps[4].args: argument 'days' must be between 1 and 90, got 120")
    one(found, "token-expired.toml: steps[4].args: unknown argument 'weeks'", "known: days")
    one(found, "cloudinary-upload.toml: steps[0].args:", "'cdn'")
    one(found, "stats-collection.toml: steps[4].args: arguments without an action")


def test_admin_and_confirm_must_be_true_or_false(books: Path) -> None:
    edit(books, "token-expired.toml", "admin = true\nconfirm = true", 'admin = "yes"\nconfirm = 1')
    found = problems(books)
    one(found, "token-expired.toml: steps[4].admin: must be true or false, got 'yes'")
    one(found, "token-expired.toml: steps[4].confirm: must be true or false, got 1")


def test_next_naming_an_unknown_step(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "issue-token"', 'id = "issue-token"\nnext = "set-expiry-date"')
    one(problems(books), "token-expired.toml: steps[2].next: unknown step 'set-expiry-date'",
        "did you mean 'set-expiry'")


def test_next_cycle(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "retry-publish"', 'id = "retry-publish"\nnext = "read-guide"')
    one(problems(books), "token-expired.toml: steps[5].next:", "cycle",
        "read-guide -> issue-token -> update-env -> set-expiry -> retry-publish -> read-guide")


def test_unreachable_steps(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "read-guide"', 'id = "read-guide"\nnext = "set-expiry"')
    found = problems(books)
    one(found, "token-expired.toml: steps[2]: step 'issue-token' is unreachable")
    one(found, "token-expired.toml: steps[3]: step 'update-env' is unreachable")


def test_a_jump_that_skips_a_common_step_says_so(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "check-token"', 'id = "check-token"\nnext = "read-guide"')
    one(problems(books), "token-expired.toml: steps: common step 'collect-logs' is unreachable",
        "skip_common")


def test_next_reorders_the_walk(books: Path) -> None:
    edit(books, "token-expired.toml", 'id = "read-guide"', 'id = "read-guide"\nnext = "update-env"')
    edit(books, "token-expired.toml", 'id = "update-env"', 'id = "update-env"\nnext = "issue-token"')
    edit(books, "token-expired.toml", 'id = "issue-token"', 'id = "issue-token"\nnext = "set-expiry"')
    rb = load_library(books, actions=ACTIONS).find("token")
    respond = [s.id for s in rb.steps if s.phase == "respond"]
    assert respond == ["read-guide", "update-env", "issue-token", "set-expiry", "retry-publish",
                       "config-rollback"]


def test_no_verify_step(books: Path) -> None:
    edit(books, "stats-collection.toml", 'id = "verify-freshness"\nphase = "verify"',
         'id = "verify-freshness"\nphase = "respond"')
    one(problems(books), "stats-collection.toml: steps: no verify step")


def test_unknown_skip_common(books: Path) -> None:
    edit(books, "image-generation.toml", 'skip_common = ["detect-traces"]',
         'skip_common = ["detect-trace"]')
    one(problems(books), "image-generation.toml: skip_common[0]: unknown common step 'detect-trace'",
        "did you mean 'detect-traces'")


def test_unknown_tick_rule(books: Path) -> None:
    edit(books, "checklists.toml", 'ticked_by = ["action:logs.tail", ', 'ticked_by = ["acton:logs.tail", ')
    edit(books, "checklists.toml", '["action:traces.list", ', '["action:traces.lsit", ')
    edit(books, "checklists.toml", '["phase:respond"]', '["phase:repair"]')
    edit(books, "checklists.toml", '["action:health.check"]', '["action:health.check", "manual"]')
    found = problems(books)
    one(found, "checklists.toml: during[0].ticked_by[1]:", "[[recovery]] items only")
    one(found, "checklists.toml: during[1].ticked_by[0]: unknown rule 'acton:logs.tail'")
    one(found, "checklists.toml: during[2].ticked_by[0]: unknown action 'traces.lsit'")
    one(found, "checklists.toml: during[3].ticked_by[0]: unknown phase 'repair'")


def test_no_scenario_files(books: Path) -> None:
    for path in books.glob("*.toml"):
        if path.name not in ("common.toml", "checklists.toml"):
            path.unlink()
    assert problems(books) == [
        "runbooks/: no scenario files (one <scenario>.toml per playbook scenario besides "
        "common.toml and checklists.toml)"]


def test_common_procedure_is_checked_too(books: Path) -> None:
    edit(books, "common.toml", 'placement = "after"\naction = "logs.collect"',
         'placement = "later"\nnext = "verify-health"\naction = "logs.collect"')
    found = problems(books)
    one(found, "common.toml: steps[2].placement: unknown placement 'later'")
    one(found, "common.toml: steps[2].next: unknown key")
    (books / "checklists.toml").unlink()
    one(problems(books), "checklists.toml: file missing")


def test_every_problem_is_listed_at_once(books: Path) -> None:
    edit(books, "token-expired.toml", 'severity = "P0"', 'severity = "P9"')
    edit(books, "rate-limit.toml", 'action = "instagram.quota"\n[steps.text]\nko = "Instagram',
         'action = "instagram.qouta"\n[steps.text]\nko = "Instagram')
    edit(books, "checklists.toml", '["postmortem"]\ntext = { ko = "사후 분석"', '["post-mortem"]\n'
         'text = { ko = "사후 분석"')
    (books / "telegram-notify.toml").write_text("id = \n", encoding="utf-8")
    found = problems(books)
    assert {p.split(":")[0] for p in found} == {"token-expired.toml", "rate-limit.toml",
                                                "checklists.toml", "telegram-notify.toml"}
    assert len(found) == 4, found


# --- reload --------------------------------------------------------------------------------------

def test_reload_applies_an_edited_file(books: Path) -> None:
    shelf = RunbookShelf(books, actions=ACTIONS)
    before = shelf.library
    edit(books, "stats-collection.toml", 'en = "Restart the daemon."',
         'en = "Restart the stats daemon."')
    edit(books, "stats-collection.toml", 'aliases = ["stats", "통계"]',
         'aliases = ["stats", "통계", "dashboard"]')
    after = shelf.reload()
    assert shelf.library is after and after.digest != before.digest
    step = next(s for s in shelf.library.find("dashboard").steps if s.id == "restart-daemon")
    assert step.text.en == "Restart the stats daemon."
    # the library an incident was opened with is not touched
    assert before.find("dashboard") is None
    assert next(s for s in before.find("stats").steps if s.id == "restart-daemon").text.en == (
        "Restart the daemon.")


def test_reload_picks_up_a_new_scenario(books: Path) -> None:
    shelf = RunbookShelf(books, actions=ACTIONS)
    text = (books / "stats-collection.toml").read_text(encoding="utf-8")
    text = (text.replace('id = "stats-collection"', 'id = "dashboard-ui"')
            .replace("number = 5", "number = 7").replace('severity = "P2"', 'severity = "P3"')
            .replace('aliases = ["stats", "통계"]', 'aliases = ["ui"]'))
    (books / "dashboard-ui.toml").write_text(text, encoding="utf-8")
    library = shelf.reload()
    assert [rb.number for rb in library.runbooks.values()] == [1, 2, 3, 4, 5, 6, 7]
    assert library.find("ui").severity == "P3"


def test_a_broken_edit_is_rejected_and_the_previous_library_stays(books: Path) -> None:
    shelf = RunbookShelf(books, actions=ACTIONS)
    edit(books, "token-expired.toml", 'en = "Retry publishing."', 'en = "Retry the post."')
    good = shelf.reload()
    edit(books, "token-expired.toml", 'action = "token.guide"', 'action = "token.guid"')
    with pytest.raises(RunbookError) as caught:
        shelf.reload()
    one(caught.value.problems, "token-expired.toml: steps[1].action: unknown action 'token.guid'")
    assert "token-expired.toml: steps[1].action" in str(caught.value)
    assert shelf.library is good
    assert [s.action for s in shelf.library.find("token").steps][4] == "token.guide"
    # once fixed, the next reload goes through
    edit(books, "token-expired.toml", 'action = "token.guid"', 'action = "token.guide"')
    assert shelf.reload().digest == good.digest


def test_a_broken_library_at_start_is_refused(books: Path) -> None:
    edit(books, "token-expired.toml", 'severity = "P0"', 'severity = "high"')
    with pytest.raises(RunbookError) as caught:
        RunbookShelf(books, actions=ACTIONS)
    one(caught.value.problems, "token-expired.toml: severity: unknown severity 'high'")


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path / "nowhere")
    one(found, "nowhere/: no such directory")


def test_the_files_can_be_checked_from_a_shell(books: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(books)]) == 0
    out = capsys.readouterr().out
    assert "6 scenarios" in out and "1. token-expired (P0): 16 steps" in out
    edit(books, "rate-limit.toml", 'severity = "P1"', 'severity = "P7"')
    assert main([str(books)]) == 1
    assert "rate-limit.toml: severity: unknown severity 'P7'" in capsys.readouterr().err


@pytest.mark.parametrize("levels, says", [(40, "nested more than 32 levels"),
                                          (20000, "nested too deeply to read")])
def test_deeply_nested_values_are_refused_with_a_sentence(
        books: Path, capsys: pytest.CaptureFixture, levels: int, says: str) -> None:
    shelf = RunbookShelf(books, actions=ACTIONS)
    edit(books, "stats-collection.toml", 'severity = "P2"',
         'severity = "P2"\nnest = ' + "[" * levels + "]" * levels)
    with pytest.raises(RunbookError) as caught:
        shelf.reload()
    one(caught.value.problems, "stats-collection.toml: " + says)
    assert shelf.library.find("stats") is not None  # the previous library stays in use
    assert main([str(books)]) == 1 and says in capsys.readouterr().err


def test_a_fifo_named_like_a_runbook_does_not_block_a_reload(books: Path) -> None:
    import concurrent.futures
    import os

    shelf = RunbookShelf(books, actions=ACTIONS)
    os.mkfifo(books / "waiting.toml")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reload = pool.submit(shelf.reload)
        try:
            with pytest.raises(RunbookError) as caught:
                reload.result(timeout=10)
        finally:
            if not reload.done():  # unblock the reader so the test can end
                with open(books / "waiting.toml", "w"):
                    pass
    one(caught.value.problems, "waiting.toml: is not a regular file")


def test_a_scenario_number_the_picker_cannot_carry_is_refused(books: Path) -> None:
    edit(books, "stats-collection.toml", "number = 5", "number = 1000")
    one(problems(books), "stats-collection.toml: number: must be a whole number from 1 to 999")


# --- retry policies ------------------------------------------------------------------------------

def test_a_step_declares_its_retry_policy_and_the_incident_keeps_it(library: Library) -> None:
    from bot.actions.recovery.retry_policy import POLICIES, parse_policy

    step = next(s for s in library.find("3").steps if s.id == "regenerate")
    assert step.retry == "generation" and parse_policy(step.retry) is POLICIES["generation"]
    assert POLICIES["generation"].retries == 3  # the playbook's "3 automatic tries"
    from bot.incidents.stored import from_doc, to_doc
    from tests.records import make_incident

    copied = next(s for s in make_incident("3").steps if s.id == "regenerate")
    assert copied.retry == "generation"  # copied at open, and through the store and back
    assert next(s for s in from_doc({**to_doc(make_incident("3")), "id": 1}).steps
                if s.id == "regenerate").retry == "generation"


def test_a_wrong_retry_policy_is_named_with_its_place(books: Path) -> None:
    edit(books, "image-generation.toml", 'retry = "generation"', 'retry = "forever"')
    edit(books, "rate-limit.toml", 'id = "wait-backoff"\nphase = "respond"',
         'id = "wait-backoff"\nphase = "respond"\nretry = { waits = ["1h"] }')
    edit(books, "token-expired.toml", 'retry = "rate_limit"',
         'retry = { waits = ["5m"], tries = 3 }')
    found = problems(books)
    one(found, "image-generation.toml: steps[", "retry", "unknown retry policy 'forever'")
    one(found, "rate-limit.toml: steps[", "retry", "without an action")
    one(found, "token-expired.toml: steps[", "retry", "unknown keys: tries")
    assert len(found) == 3, found


def test_a_step_that_overwrites_the_configuration_must_be_admin_and_confirmed(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    shutil.copytree(RUNBOOKS, books)
    common = books / "common.toml"
    common.write_text(common.read_text().replace(
        'action = "backup.restore"\nadmin = true\nconfirm = true\n', 'action = "backup.restore"\n'))
    with pytest.raises(RunbookError) as error:
        load_library(books, actions=ACTIONS)
    assert ("backup.restore overwrites the team's configuration: the step needs admin = true "
            "and confirm = true") in str(error.value)
