"""Recipe: an application that reads its SMTP address when it is imported.

One server for the session (``smtpd_session``: a stable host and port), and
the module imported, or reloaded when something imported it already, after
the environment names that server.
"""

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import notifier as imported_at_collection  # as a conftest or an app package would, before any fixture
import pytest

from pytest_smtpd import SMTPServer


@pytest.fixture(scope="session")
def notifier(smtpd_session: SMTPServer) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NOTIFIER_MAIL_HOST", smtpd_session.host)
        env.setenv("NOTIFIER_MAIL_PORT", str(smtpd_session.port))
        if "notifier" in sys.modules:  # imported before (by a conftest, another test): read again
            module = importlib.reload(sys.modules["notifier"])
        else:
            module = importlib.import_module("notifier")
        yield module
    importlib.reload(module)  # back to the settings of the real environment


def test_notice_goes_to_the_session_server(notifier: ModuleType, smtpd_session: SMTPServer) -> None:
    assert notifier is imported_at_collection  # reloaded in place: every importer sees the new settings
    assert smtpd_session.address == (notifier.MAIL_HOST, notifier.MAIL_PORT)
    notifier.notify("ops@example.com", "Disk full")
    smtpd_session.assert_sent(to="ops@example.com", text="Disk full")


def test_each_test_sees_only_its_own_mail(notifier: ModuleType, smtpd_session: SMTPServer) -> None:
    notifier.notify("dev@example.com", "Build broken")
    assert [m.recipients for m in smtpd_session.messages] == [("dev@example.com",)]
