"""The records on their own: a Message's envelope views, a Transcript as a
sequence, and a Recorder that is told about sessions it does not know (a
session cleared while its client was still talking); a Message's way to its
session, which holds neither the recorder nor a forgotten session."""

from __future__ import annotations

import gc
import re
import smtplib
import weakref

import pytest

from pytest_smtpd import Command, Ending, Message, Reply, SMTPServer, Violation
from pytest_smtpd.records import Record, Recorder, Refusal, ServerError, Transcript, TranscriptLine


def test_the_envelope_views_of_a_message() -> None:
    bare = Message("a@example.com", ("b@example.com",), b"")
    assert (bare.body_type, bare.ret, bare.envid, bare.smtputf8, bare.declared_size) == (
        "7BIT",
        None,
        None,
        False,
        None,
    )
    full = Message(
        "a@example.com",
        ("b@example.com",),
        b"",
        mail_params={"BODY": "8bitmime", "RET": "HDRS", "ENVID": "QQ314159", "SMTPUTF8": None, "SIZE": "12"},
    )
    assert (full.body_type, full.ret, full.envid, full.smtputf8, full.declared_size) == (
        "8BITMIME",
        "HDRS",
        "QQ314159",
        True,
        12,
    )


def test_a_message_made_by_hand_has_no_session() -> None:
    with pytest.raises(LookupError, match="not recorded by a server"):
        _ = Message("a@example.com", ("b@example.com",), b"").session


def test_a_transcript_is_a_sequence_of_lines() -> None:
    line = TranscriptLine(1, "C", "NOOP", 0.0)
    transcript = Transcript([line], {1: ("::1", 25)})
    assert line in transcript
    assert TranscriptLine(1, "C", "QUIT", 0.0) not in transcript
    assert 5 not in transcript
    assert "C: NOOP" in transcript
    assert repr(transcript) == "<Transcript of 1 lines>"
    assert str(transcript).splitlines()[0] == "--- session 1 from [::1]:25 ---"


def test_writes_for_a_session_the_recorder_does_not_know_are_dropped() -> None:
    recorder = Recorder()
    seen: list[Record] = []
    recorder.subscribe(seen.append)
    recorder.record_command(7, Command("NOOP", line=b"NOOP"))
    recorder.record_client_line(7, "****")
    recorder.record_reply(7, Reply(250, "OK"))
    recorder.record_content(7, b"x\r\n", ".")
    assert recorder.record_message(Message("a@x", ("b@x",), b"", session_id=7)).session_id == 7
    recorder.record_violations(7, [Violation("bare-lf", "")])
    recorder.record_refusal(Refusal(7, "a@x", "b@x", (), Reply(550, "no")))
    recorder.record_greeting(7, "EHLO", "client.example")
    recorder.record_auth(7, "alice", "PLAIN")
    recorder.record_tls(7, "TLSv1.3", "TLS_AES_128_GCM_SHA256")
    recorder.record_proxy(7, ("127.0.0.1", 9))
    recorder.record_proxy_header(7, ("192.0.2.1", 25), ())
    assert recorder.end_session(7, Ending.QUIT) is None
    assert (recorder.messages, recorder.sessions, len(recorder.transcript), recorder.violations) == ([], [], 0, [])
    assert recorder.refusals == []
    assert seen == []


def test_observers_see_client_lines_violations_errors_and_refusals() -> None:
    recorder = Recorder()
    seen: list[Record] = []
    recorder.subscribe(seen.append)
    sid = recorder.open_session(("127.0.0.1", 1))
    recorder.record_client_line(sid, "****")
    recorder.record_violations(sid, [Violation("bare-lf", "bare LF")])
    recorder.record_violations(sid, [])
    error = ServerError(RuntimeError("boom"), sid, "test")
    recorder.record_error(error)
    refusal = Refusal(sid, "a@x", "b@x", (), Reply(550, "5.1.1 No such user"))
    recorder.record_refusal(refusal)
    assert [type(r).__name__ for r in seen] == ["TranscriptLine", "Violation", "ServerError", "Refusal"]
    assert seen[1] == Violation("bare-lf", "bare LF", session_id=sid)
    assert seen[2] is error
    assert seen[3] is refusal
    assert str(refusal) == "recipient 'b@x' from 'a@x': 550 5.1.1 No such user"


def test_an_observer_error_wakes_a_waiter_and_is_kept() -> None:
    recorder = Recorder()

    def broken(record: Record) -> None:
        raise ValueError("observer bug")

    recorder.subscribe(broken)
    sid = recorder.open_session(("127.0.0.1", 1))
    recorder._waiters += 1  # as if a waiter were inside wait()
    try:
        recorder.record_client_line(sid, "****")
    finally:
        recorder._waiters -= 1
    [error] = recorder.errors
    assert isinstance(error.exception, ValueError)
    assert re.match(r"observer <function .*broken", error.where)


def test_messages_since_a_count_past_the_total_counts_from_nothing() -> None:
    recorder = Recorder()
    sid = recorder.open_session(("127.0.0.1", 1))
    first = recorder.record_message(Message("a@x", ("b@x",), b"1", session_id=sid))
    assert recorder.messages_since(0) == ([first], 1)
    assert recorder.messages_since(1) == ([], 1)
    assert recorder.messages_since(5) == ([first], 1)  # cleared since 5 were seen


def _send(server: SMTPServer, subject: str) -> None:
    with smtplib.SMTP(*server.address) as client:
        client.sendmail("a@example.com", ["b@example.com"], f"Subject: {subject}\r\n\r\nbody\r\n")


def test_a_message_holds_its_session_not_the_recorder() -> None:
    with SMTPServer() as server:
        _send(server, "kept")
        (message,) = server.messages
        recorder = weakref.ref(server._recorder)
    del server
    gc.collect()
    # The recorder is gone; the message still reads its session as it last stood.
    assert recorder() is None
    assert message.session.ended is Ending.QUIT
    assert message.session.messages == (message,)


def test_a_message_of_a_cleared_session_cannot_find_it() -> None:
    with SMTPServer() as server:
        _send(server, "old")
        (message,) = server.messages
        assert message.session.greeting == "EHLO"
        server.clear()
        with pytest.raises(LookupError, match=r"session 1 is not recorded \(cleared\?\)"):
            _ = message.session


def test_a_forgotten_session_is_freed_without_the_cyclic_collector() -> None:
    # A message and its session refer to each other; forgetting the session
    # (keep) must break that cycle, or a sink left running grows until a full
    # collection. With the collector off, only what is kept may stay alive.
    def alive() -> int:
        return sum(1 for o in gc.get_objects() if type(o).__name__ == "_SessionState")

    gc.collect()
    before = alive()
    gc.disable()
    try:
        with SMTPServer(keep=2) as server:
            for i in range(12):
                _send(server, f"m{i}")
            assert [m.subject for m in server.messages] == ["m10", "m11"]
            assert alive() - before == 2
    finally:
        gc.enable()
