"""How people appear: records keep `tg:<id> @username`, or `tg:<id> <first name>` for someone
without a username (see handlers.access.actor_of); chat messages and documents show the name."""

from __future__ import annotations


def display_name(actor: str | None) -> str:
    """`tg:1001 @mina` -> `@mina`; `tg:1004 Sora Kim` -> `Sora Kim` (no username: the first
    name); the id when a record holds nothing else; a dash for nobody."""
    if not actor:
        return "—"
    head, _, name = actor.strip().partition(" ")
    return name.strip() or head
