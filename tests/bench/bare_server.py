"""The reference point of the benchmark: an SMTP server that does no work.

A thread accepts; a thread per connection answers every command with a canned
reply (220, 250, 354, 221) and reads DATA up to ``CRLF.CRLF`` with one ``find``
on the buffer. No parsing, no records besides the raw content: its numbers are
the ceiling the smtplib client allows.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["BareServer"]

#: Reads of up to 64 KiB: larger ones cost a big allocation per call (above malloc's mmap threshold).
_RECV = 64 * 1024
_END = b"\r\n.\r\n"


class BareServer:
    """``BareServer().start()`` listens on a free loopback port; ``stop()`` closes everything."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.address: tuple[str, int] = (host, port)
        self.messages: list[bytes] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self) -> BareServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self.address)
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        self.address = listener.getsockname()[:2]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        listener.close()
        with self._lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        assert self._thread is not None
        self._thread.join()
        for _, thread in conns:
            thread.join()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._session(conn)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.pop(conn, None)
            conn.close()

    def _session(self, conn: socket.socket) -> None:
        send = conn.sendall
        recv = conn.recv
        send(b"220 bare ESMTP\r\n")
        buf = bytearray()
        start = 0  # where to look for the next line end
        while True:
            end = buf.find(b"\r\n", start)
            if end < 0:
                start = max(0, len(buf) - 1)
                chunk = recv(_RECV)
                if not chunk:
                    return
                buf += chunk
                continue
            verb = bytes(buf[:4]).upper()
            del buf[: end + 2]
            start = 0
            if verb == b"QUIT":
                send(b"221 bye\r\n")
                return
            if verb != b"DATA":
                send(b"250 ok\r\n")
                continue
            send(b"354 go ahead\r\n")
            look = 0
            while True:
                found = buf.find(_END, look)
                if found >= 0:
                    break
                look = max(0, len(buf) - 4)
                chunk = recv(_RECV)
                if not chunk:
                    return
                buf += chunk
            with memoryview(buf) as view:
                self.messages.append(bytes(view[: found + 2]))
            del buf[: found + 5]
            send(b"250 queued\r\n")
