"""docs/architecture.md shows the state table as the code has it: rendered here from
``TRANSITIONS``, so the page cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from pytest_smtpd.protocol import TRANSITIONS, Effect, State
from pytest_smtpd.protocol._state import AUTH_RESPONSE, BDAT_REFUSED, CONTENT_END, GREETING

PAGE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
BEGIN = "<!-- state table: rendered from TRANSITIONS by tests/core/test_architecture_doc.py -->"
END = "<!-- end of state table -->"

EVENTS: tuple[str, ...] = (GREETING, "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", BDAT_REFUSED, CONTENT_END)
EVENTS += ("RSET", "AUTH", AUTH_RESPONSE, "STARTTLS", "QUIT")


def _reply(key: int) -> str:
    return f"{key}xx" if key < 10 else str(key)


def _targets(moves: dict[State, State]) -> dict[str, list[State]]:
    """The new state of each state a row applies in, as few labels as will do."""
    targets = set(moves.values())
    if len(targets) == 1:
        return {next(iter(targets)).name: list(moves)}
    labels: dict[str, list[State]] = {}
    for state, new in moves.items():
        labels.setdefault("(stays)" if new is state else new.name, []).append(state)
    return labels


def render_transitions() -> str:
    """The table as Markdown: a row per event, replies, new state and effect, with the states it applies in."""
    states = list(State)
    grouped: dict[tuple[str, int, Effect], dict[State, State]] = {}
    for (state, event, reply), (new, effect) in TRANSITIONS.items():
        grouped.setdefault((event, reply, effect), {})[state] = new
    merged: dict[tuple[str, tuple[State, ...], str, Effect], list[int]] = {}
    for (event, reply, effect), moves in grouped.items():
        for label, members in _targets(moves).items():
            key = (event, tuple(sorted(members, key=states.index)), label, effect)
            merged.setdefault(key, []).append(reply)
    rows = []
    for (event, froms, label, effect), keys in merged.items():
        keys.sort(key=lambda k: k if k > 9 else k * 100)
        first = keys[0] if keys[0] > 9 else keys[0] * 100
        order = (EVENTS.index(event), states.index(froms[0]), first)
        text = (event, ", ".join(_reply(k) for k in keys), ", ".join(s.name for s in froms), label, f"`{effect.name}`")
        rows.append((order, text))
    rows.sort()
    lines = ["| event | reply | in state | new state | effect |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(text) + " |" for _, text in rows]
    return "\n".join(lines)


def test_the_architecture_page_shows_the_state_table() -> None:
    page = PAGE.read_text(encoding="utf-8")
    shown = page.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == render_transitions(), f"replace the table in {PAGE.name} with:\n{render_transitions()}"


def test_every_key_of_the_table_is_a_known_event_and_reply() -> None:
    for state, event, reply in TRANSITIONS:
        assert event in EVENTS
        assert state not in (State.DATA, State.CLOSED) or event == CONTENT_END
        assert 2 <= reply <= 5 or 200 <= reply <= 599
