"""The send pacer on its own: button answers never wait, a group never gets more than its rate,
urgent sends first without silencing the rest, a 429 pauses only its own chat."""

from __future__ import annotations

import asyncio

import pytest
from telegram.error import RetryAfter

from handlers.send_pacer import NORMAL_EVERY, PREPAID, URGENT, Priority, Send, SendPacer

GROUP, OTHER_GROUP, PERSON = -100123, -100456, 1001


class Calls:
    """A stand-in for the Bot API call a pacer lets through: records when and what."""

    def __init__(self) -> None:
        self.log: list[tuple[float, str]] = []
        self.fail_next: dict[int, int] = {}  # chat -> RetryAfter seconds, once

    async def call(self, endpoint: str, data: dict) -> dict:
        chat = data.get("chat_id")
        if chat in self.fail_next:
            raise RetryAfter(self.fail_next.pop(chat))
        self.log.append((asyncio.get_running_loop().time(), data.get("text", endpoint)))
        return {"ok": True}


async def send(pacer: SendPacer, calls: Calls, chat: int | None, text: str,
               how: Send | None = None, endpoint: str = "sendMessage") -> None:
    data = {"text": text} if chat is None else {"chat_id": chat, "text": text}
    await pacer.process_request(calls.call, (endpoint, data), {}, endpoint, data, how)


async def test_a_button_answer_never_waits_for_a_busy_or_paused_group() -> None:
    pacer, calls = SendPacer(2, period=1.0), Calls()
    queued = [asyncio.create_task(send(pacer, calls, GROUP, f"reply {n}")) for n in range(10)]
    await asyncio.sleep(0.05)
    pacer._pause(GROUP, 30)  # and Telegram said: wait 30 s
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send(pacer, calls, None, "answer", endpoint="answerCallbackQuery")
    assert loop.time() - started < 0.05
    assert pacer.waiting(GROUP) >= 7
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)


async def test_a_group_never_gets_more_than_its_rate_in_any_window_and_sends_spread_out() -> None:
    rate, period = 5, 0.5
    pacer, calls = SendPacer(rate, period=period), Calls()
    await asyncio.gather(*(send(pacer, calls, GROUP, f"m{n}") for n in range(16)))
    times = [t for t, _ in calls.log]
    assert len(times) == 16
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + period - 0.005]
        assert len(in_window) <= rate, (i, in_window)
    # after the first burst, one at a time: no two sends closer than most of a spacing
    gaps = [b - a for a, b in zip(times[3:], times[4:])]
    assert min(gaps) > 0.6 * period / rate
    # a private chat is not held up by the group
    started = asyncio.get_running_loop().time()
    await send(pacer, calls, PERSON, "direct")
    assert asyncio.get_running_loop().time() - started < 0.05


async def test_urgent_sends_go_first_and_normal_ones_still_get_every_fourth_turn() -> None:
    pacer, calls = SendPacer(20, period=0.4), Calls()  # a send every 20 ms once the burst is spent
    await asyncio.gather(*(send(pacer, calls, GROUP, "warm") for _ in range(3)))
    normal = [asyncio.create_task(send(pacer, calls, GROUP, f"n{n}")) for n in range(4)]
    urgent = [asyncio.create_task(send(pacer, calls, GROUP, f"u{n}", URGENT)) for n in range(8)]
    await asyncio.gather(*normal, *urgent)
    order = "".join(text[0] for _, text in calls.log[3:])
    turn = "u" * (NORMAL_EVERY - 1) + "n"
    assert order == turn * 2 + "uunn", order  # then what is left, urgent first


async def test_a_429_pauses_only_its_own_chat_and_the_send_is_tried_again() -> None:
    pacer, calls = SendPacer(100, period=1.0), Calls()
    calls.fail_next[GROUP] = 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(send(pacer, calls, GROUP, "after the pause"))
    await asyncio.sleep(0.05)
    await send(pacer, calls, OTHER_GROUP, "elsewhere")
    assert loop.time() - started < 0.3
    await first
    sent_at = {text: t for t, text in calls.log}
    assert sent_at["after the pause"] - started >= 1.0


async def test_a_prepaid_send_skips_the_queue_it_already_waited_in() -> None:
    pacer, calls = SendPacer(3, period=1.0), Calls()
    await pacer.turn(GROUP, Priority.URGENT)
    await send(pacer, calls, GROUP, "rendered after its turn", PREPAID)
    await send(pacer, calls, GROUP, "second")
    await send(pacer, calls, GROUP, "third")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(asyncio.TimeoutError):  # the window is full: the prepaid send counted
        await asyncio.wait_for(send(pacer, calls, GROUP, "fourth"), 0.3)
    assert loop.time() - started >= 0.3


async def test_stopping_fails_waiting_sends_at_once_instead_of_holding_the_shutdown() -> None:
    from telegram.error import NetworkError

    pacer, calls = SendPacer(1, period=60.0), Calls()
    await send(pacer, calls, GROUP, "the one this minute allows")
    waiting = asyncio.create_task(send(pacer, calls, GROUP, "a minute away"))
    await asyncio.sleep(0.05)
    pacer.close()
    with pytest.raises(NetworkError, match="stopping"):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(NetworkError):
        await send(pacer, calls, GROUP, "after the stop")
    await send(pacer, calls, None, "a button's answer still goes", endpoint="answerCallbackQuery")
    assert [text for _, text in calls.log] == ["the one this minute allows",
                                              "a button's answer still goes"]
