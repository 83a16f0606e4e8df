"""``SMTPServer.subscribe(observer, kinds)``: an observer of some kinds of record
gets only those, and the records nobody asked for are not made."""

from __future__ import annotations

import smtplib

import pytest

from pytest_smtpd import Command, Message, Reply, SMTPServer
from pytest_smtpd.records import Record, Recorder, TranscriptLine


def test_an_observer_of_messages_sees_only_messages() -> None:
    seen: list[Record] = []
    everything: list[Record] = []
    with SMTPServer() as server:
        server.subscribe(seen.append, (Message,))
        server.subscribe(everything.append)
        with smtplib.SMTP(*server.address) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
    assert [type(r) for r in seen] == [Message]
    assert any(isinstance(r, TranscriptLine) for r in everything)


def test_no_transcript_line_is_made_when_nobody_wants_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_smtpd.records as records

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a transcript line was made for nobody")

    recorder = Recorder()
    recorder.subscribe(lambda record: None, (Message,))
    monkeypatch.setattr(records, "_expand", refuse)
    monkeypatch.setattr(records, "TranscriptLine", refuse)
    sid = recorder.open_session(("127.0.0.1", 1))
    recorder.record_command(sid, Command("NOOP", line=b"NOOP"))
    recorder.record_reply(sid, Reply(250, "OK"))
    recorder.record_client_line(sid, "****")
    recorder.record_content(sid, b"x\r\n", ".")


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="not a kind of record: str"):
        Recorder().subscribe(lambda record: None, (str,))
