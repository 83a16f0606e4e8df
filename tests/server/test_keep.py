"""A server left running: ``keep`` bounds every kind of record it holds, and the
listener takes bursts of connections (its backlog is the system's maximum)."""

from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from pytest_smtpd import Command, ConfigurationError, Ending, Message, Reply, SMTPServer, Violation
from pytest_smtpd.options import parse_ini
from pytest_smtpd.records import KEPT_PER_MESSAGE, Recorder, ServerError
from pytest_smtpd.server import listen_backlog


def send(server: SMTPServer, subjects: list[str], one_connection: bool = False) -> None:
    def one(client: smtplib.SMTP, subject: str) -> None:
        client.sendmail("a@example.com", ["b@example.com"], f"Subject: {subject}\r\n\r\nbody\r\n")

    if one_connection:
        with smtplib.SMTP(*server.address) as client:
            for subject in subjects:
                one(client, subject)
        return
    for subject in subjects:
        with smtplib.SMTP(*server.address) as client:
            one(client, subject)


def test_keep_holds_the_last_messages_and_their_sessions() -> None:
    with SMTPServer(keep=3) as server:
        send(server, [f"m{i}" for i in range(1, 8)])
        assert [m.subject for m in server.messages] == ["m5", "m6", "m7"]
        sessions = server.sessions
        assert [s.id for s in sessions] == [5, 6, 7]
        assert all(s.ended is Ending.QUIT for s in sessions)
        # A kept message still finds its session; a dropped session is gone.
        assert server.messages[0].session.id == 5
        with pytest.raises(LookupError):
            server.session(1)
        lines = server.transcript
        assert len(lines) > 0
        assert {line.session_id for line in lines} <= {5, 6, 7}
        assert "C: Subject: m7" in lines


def test_keep_bounds_one_long_session_too() -> None:
    with SMTPServer(keep=2) as server:
        send(server, [f"m{i}" for i in range(1, 11)], one_connection=True)
        (session,) = server.sessions
        assert [m.subject for m in session.messages] == ["m9", "m10"]
        assert [m.subject for m in server.messages] == ["m9", "m10"]
        assert len(session.commands) == KEPT_PER_MESSAGE * 2
        assert len(session.replies) == KEPT_PER_MESSAGE * 2
        assert session.commands[-1].verb == "QUIT"


def test_keep_zero_keeps_no_message_and_no_ended_session() -> None:
    with SMTPServer(keep=0) as server:
        seen: list[object] = []
        server.subscribe(seen.append)
        send(server, ["gone"])
        assert server.messages == []
        assert server.sessions == []
        assert len(server.transcript) == 0
        # Observers still see everything.
        assert [m.subject for m in seen if isinstance(m, Message)] == ["gone"]


def test_without_keep_everything_is_kept() -> None:
    with SMTPServer() as server:
        send(server, [f"m{i}" for i in range(1, 2 * KEPT_PER_MESSAGE)])
        assert len(server.messages) == 2 * KEPT_PER_MESSAGE - 1
        assert len(server.sessions) == 2 * KEPT_PER_MESSAGE - 1


def test_a_kept_recorder_stays_the_same_size_however_much_is_recorded() -> None:
    keep = 4
    recorder = Recorder(keep=keep)
    for n in range(1, 200):
        sid = recorder.open_session(("127.0.0.1", n))
        recorder.record_command(sid, Command("NOOP", line=b"NOOP"))
        recorder.record_reply(sid, Reply(250, "OK"))
        recorder.record_content(sid, b"x\r\n", ".")
        recorder.record_message(Message("a@x", ("b@x",), b"x\r\n", session_id=sid))
        recorder.record_violations(sid, [Violation("bare-lf", "")])
        recorder.record_error(ServerError(RuntimeError(n), sid, "test"))
        recorder.end_session(sid, Ending.QUIT, snapshot=False)
    assert [m.session_id for m in recorder.messages] == [196, 197, 198, 199]
    assert [s.id for s in recorder.sessions] == [196, 197, 198, 199]
    assert len(recorder.violations) == keep
    assert [str(e.exception) for e in recorder.errors] == ["196", "197", "198", "199"]
    assert len(recorder.transcript) == KEPT_PER_MESSAGE * keep


def test_clear_forgets_what_keep_kept() -> None:
    recorder = Recorder(keep=2)
    for n in range(3):
        recorder.end_session(recorder.open_session(("127.0.0.1", n)), Ending.QUIT, snapshot=False)
    recorder.clear()
    assert recorder.sessions == []
    sid = recorder.open_session(("127.0.0.1", 9))
    recorder.end_session(sid, Ending.QUIT, snapshot=False)
    assert [s.id for s in recorder.sessions] == [sid]


@pytest.mark.parametrize("value", [-1, True, 1.5, "10"])
def test_keep_must_be_a_count(value: object) -> None:
    with pytest.raises(ConfigurationError, match="keep must be None"):
        SMTPServer(keep=value)


@pytest.mark.parametrize(("raw", "value"), [("100", 100), ("0", 0), ("all", None), ("none", None)])
def test_keep_in_an_ini_file(raw: str, value: int | None) -> None:
    assert parse_ini("keep", raw) == value


def test_keep_in_an_ini_file_must_be_a_number() -> None:
    with pytest.raises(ConfigurationError, match="smtpd_keep must be an integer"):
        parse_ini("keep", "many")


def test_the_backlog_is_the_system_maximum() -> None:
    somaxconn = Path("/proc/sys/net/core/somaxconn")
    if not somaxconn.exists():
        pytest.skip("no /proc/sys/net/core/somaxconn here")
    assert listen_backlog() == max(int(somaxconn.read_text()), socket.SOMAXCONN)


def test_the_listener_listens_with_that_backlog() -> None:
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("needs ss (iproute2) to read a listener's backlog")
    with SMTPServer() as server:
        port = server.port
        out = subprocess.run([ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    # For a listening socket ss shows the backlog as Send-Q: "LISTEN 0 4096 127.0.0.1:port ...".
    (line,) = out.splitlines()
    assert int(line.split()[2]) == listen_backlog()


def test_wait_for_sees_new_messages_when_keep_is_full() -> None:
    with SMTPServer(keep=2) as server:
        send(server, ["m1", "m2", "m3"])
        assert len(server.messages) == 2  # full: a new message no longer changes the length
        looked = threading.Event()

        def is_m4(subject: object) -> bool:
            looked.set()  # the wait has begun: now send
            return subject == "m4"

        def send_m4() -> None:
            if looked.wait(10):
                send(server, ["m4"])

        sender = threading.Thread(target=send_m4)
        sender.start()
        try:
            [found] = server.wait_for(subject=is_m4, timeout=10)
        finally:
            sender.join(10)
        assert found.subject == "m4"
        assert [m.subject for m in server.messages] == ["m3", "m4"]


def test_without_proc_the_backlog_is_socket_somaxconn(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_smtpd import engine

    def no_proc(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("/proc/sys/net/core/somaxconn")

    monkeypatch.setattr(engine, "_BACKLOG", [])
    monkeypatch.setattr(engine, "open", no_proc, raising=False)
    assert listen_backlog() == socket.SOMAXCONN
