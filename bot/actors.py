"""How people appear: records keep `tg:<id> @username` (see handlers.access.actor_of); chat
messages and documents show the name part."""

from __future__ import annotations


def display_name(actor: str | None) -> str:
    """`tg:1001 @mina` -> `@mina`; the id when there is no username; a dash for nobody."""
    if not actor:
        return "—"
    parts = actor.split()
    return parts[1] if len(parts) > 1 else parts[0]
