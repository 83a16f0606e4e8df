"""The one way to observe a server: ``Recorder.subscribe`` hands each record to
an observer as it is made, and ``Recorder.wait`` re-checks its predicate after
every record (not only after messages)."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable

import pytest

from pytest_smtpd import Command, Ending, Message, Reply, Session, SMTPServer, Violation
from pytest_smtpd.records import Record, Recorder, Refusal, ServerError, TranscriptLine


def test_an_observer_sees_every_record_in_order() -> None:
    seen: list[Record] = []
    with SMTPServer() as server:
        unsubscribe = server._recorder.subscribe(seen.append)
        with smtplib.SMTP(*server.address) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
        server._recorder.wait(lambda: any(isinstance(r, Session) for r in seen), 10)
        unsubscribe()
        lines = [r for r in seen if isinstance(r, TranscriptLine)]
        # What the observer saw is the transcript, line for line.
        assert [(x.direction, x.text) for x in lines] == [(x.direction, x.text) for x in server.transcript]
        kinds = [type(r).__name__ for r in seen if not isinstance(r, TranscriptLine)]
        assert kinds == ["Message", "Session"]
        message = next(r for r in seen if isinstance(r, Message))
        assert message.recipients == ("b@example.com",)
        # The message is handed over before the reply that accepts it.
        after = seen[seen.index(message) + 1]
        assert isinstance(after, TranscriptLine)
        assert after.text.startswith("250")


def test_a_refused_recipient_is_observed_after_its_command_and_before_its_reply() -> None:
    seen: list[Record] = []
    with SMTPServer(max_recipients=1) as server:
        server.subscribe(seen.append, (TranscriptLine, Refusal))
        with smtplib.SMTP(*server.address) as client:
            client.ehlo()
            client.mail("a@example.com")
            assert client.rcpt("b@example.com")[0] == 250
            assert client.rcpt("c@example.com")[0] == 452
        # Nothing scripted: a command and its reply are recorded together, but
        # a refusal still comes between them.
        shown = [
            r.text if isinstance(r, TranscriptLine) else f"refused {r.recipient}" if isinstance(r, Refusal) else "?"
            for r in seen
        ]
        at = shown.index("refused c@example.com")
        assert shown[at - 1].upper() == "RCPT TO:<C@EXAMPLE.COM>"
        assert shown[at + 1].startswith("452")
        assert shown.count("refused c@example.com") == 1


def test_unsubscribed_observers_hear_nothing_more() -> None:
    seen: list[Record] = []
    with SMTPServer() as server:
        server._recorder.subscribe(seen.append)()
        with smtplib.SMTP(*server.address) as client:
            client.noop()
    assert seen == []


def test_a_failing_observer_is_recorded_and_recording_goes_on() -> None:
    def broken(record: Record) -> None:
        raise RuntimeError("observer bug")

    with SMTPServer() as server:
        server._recorder.subscribe(broken)
        with smtplib.SMTP(*server.address) as client:
            assert client.noop()[0] == 250
        assert server.transcript[-1].text.startswith("221")
        errors = server.errors
    assert errors
    assert isinstance(errors[0].exception, RuntimeError)


def _writers() -> dict[str, Callable[[Recorder, int], object]]:
    command = Command("NOOP", line=b"NOOP")
    return {
        "open_session": lambda r, sid: r.open_session(("127.0.0.1", 2)),
        "record_command": lambda r, sid: r.record_command(sid, command),
        "record_client_line": lambda r, sid: r.record_client_line(sid, "****"),
        "record_reply": lambda r, sid: r.record_reply(sid, Reply(250, "OK")),
        "record_content": lambda r, sid: r.record_content(sid, b"x\r\n", "."),
        "record_message": lambda r, sid: r.record_message(Message("a@x", ("b@x",), b"", session_id=sid)),
        "record_violations": lambda r, sid: r.record_violations(sid, [Violation("bare-lf", "")]),
        "record_error": lambda r, sid: r.record_error(ServerError(RuntimeError(), sid, "test")),
        "record_refusal": lambda r, sid: r.record_refusal(Refusal(sid, None, "b@x", (), Reply(550, "no"))),
        "record_greeting": lambda r, sid: r.record_greeting(sid, "EHLO", "client.example"),
        "record_auth": lambda r, sid: r.record_auth(sid, "alice", "PLAIN"),
        "record_tls": lambda r, sid: r.record_tls(sid, "TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "record_proxy": lambda r, sid: r.record_proxy(sid, ("127.0.0.1", 9)),
        "record_proxy_header": lambda r, sid: r.record_proxy_header(sid, ("192.0.2.1", 25), ()),
        "end_session": lambda r, sid: r.end_session(sid, Ending.QUIT, snapshot=False),
    }


@pytest.mark.parametrize("writer", list(_writers()))
def test_every_record_wakes_a_waiter(writer: str) -> None:
    recorder = Recorder()
    sid = recorder.open_session(("127.0.0.1", 1))
    generation = [0]
    waiting = threading.Event()

    def predicate() -> bool:
        generation[0] += 1
        waiting.set()
        return generation[0] > 1  # true on the first re-check after the record

    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(recorder.wait(predicate, 10)))
    waiter.start()
    assert waiting.wait(10)
    with recorder.changed:  # the waiter is inside wait() once it released the lock
        pass
    _writers()[writer](recorder, sid)
    waiter.join(10)
    assert woke == [True]


@pytest.mark.parametrize("value", [True, 1])
def test_wait_returns_the_predicates_value(value: object) -> None:
    recorder = Recorder()
    assert recorder.wait(lambda: value, 0) is value
