"""Recipe: mail sent by a background task after the response (FastAPI's ``BackgroundTasks`` pattern).

The task runs in another thread, so the test waits for the message with
``wait_for`` instead of asserting at once.
"""

import smtplib
import threading
from collections.abc import Callable, Iterator

import pytest

from pytest_smtpd import SMTPServer


class BackgroundTasks:
    """Run tasks in a thread after the response, like a web framework's background tasks."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def add_task(self, func: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=func, args=args)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


def send_receipt(host: str, port: int, to: str, order: int) -> None:
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail("shop@example.com", [to], f"Subject: Order {order} received\r\n\r\nThank you!\r\n")


def place_order(tasks: BackgroundTasks, mail_host: str, mail_port: int, email: str) -> dict[str, object]:
    """The endpoint: answers at once, the receipt goes out in the background."""
    order = 42
    tasks.add_task(send_receipt, mail_host, mail_port, email, order)
    return {"order": order, "status": "accepted"}


@pytest.fixture
def tasks() -> Iterator[BackgroundTasks]:
    tasks = BackgroundTasks()
    yield tasks
    tasks.join()


def test_receipt_is_sent_in_the_background(smtpd: SMTPServer, tasks: BackgroundTasks) -> None:
    response = place_order(tasks, smtpd.host, smtpd.port, "alice@example.com")
    assert response == {"order": 42, "status": "accepted"}
    (msg,) = smtpd.wait_for(count=1, timeout=5, to="alice@example.com")
    assert msg.subject == "Order 42 received"
