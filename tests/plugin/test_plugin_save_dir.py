"""``--smtpd-save-dir`` and ini ``smtpd_save_dir``: the mail and transcript of
each failed test that used a server, under ``DIR/<test id>/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from smtpd_pytester import write_ini

from pytest_smtpd.plugin import _folder_name

SEND = """
import smtplib

def send(server, subject, to="b@example.com"):
    with smtplib.SMTP(*server.address) as client:
        client.sendmail("a@example.com", [to], f"Subject: {subject}\\r\\n\\r\\nhello\\r\\n.dot-stuffed\\r\\n")
"""


@pytest.fixture(autouse=True)
def _files(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(sender=SEND)


def failing_test(subject: str) -> str:
    """An inner test ``test_fails`` that sends one mail, then fails."""
    return f"from sender import send\n\ndef test_fails(smtpd):\n    send(smtpd, {subject!r})\n    assert False\n"


def saved(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by path relative to it."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_failed_test_saves_its_messages_and_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mail="""
        from sender import send

        def test_fails(smtpd):
            send(smtpd, "first")
            send(smtpd, "second")
            assert False, "the test's own failure"
        """
    )
    result = pytester.runpytest("--smtpd-save-dir=out")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "out" / "test_mail.py__test_fails"
    files = saved(folder)
    assert sorted(files) == ["1.eml", "2.eml", "transcript.txt"]
    # The data exactly as received: CRLF kept, the dot unstuffed.
    assert files["1.eml"] == b"Subject: first\r\n\r\nhello\r\n.dot-stuffed\r\n"
    assert files["2.eml"] == b"Subject: second\r\n\r\nhello\r\n.dot-stuffed\r\n"
    transcript = files["transcript.txt"].decode()
    assert transcript.startswith("--- session 1 from 127.0.0.1:")
    assert "C: Subject: second" in transcript
    assert transcript.endswith("S: 221 2.0.0 Bye\n")
    # The report section names the folder, above the messages and the transcript.
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript call -*",
            f"Saved 2 message(s) and the transcript in {folder}/",
            "",
            "Accepted messages (2):",
            "  #1 from 'a@example.com' to ['b@example.com'] subject 'first'",
            "  #2 from 'a@example.com' to ['b@example.com'] subject 'second'",
            "",
            "--- session 1 from 127.0.0.1:*",
        ]
    )


def test_a_passing_test_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mail="""
        import pytest
        from sender import send

        def test_passes(smtpd):
            send(smtpd, "fine")

        @pytest.mark.xfail(reason="expected", strict=True)
        def test_expected_failure(smtpd):
            send(smtpd, "expected")
            assert False

        def test_fails_without_a_server():
            assert False
        """
    )
    pytester.runpytest("--smtpd-save-dir=out").assert_outcomes(passed=1, xfailed=1, failed=1)
    assert not (pytester.path / "out").exists()


def test_test_ids_become_safe_folder_names(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("")  # puts the root, with sender.py, on sys.path
    pytester.makepyfile(
        **{
            "sub/test_ids": """
            import pytest
            from sender import send

            class TestGroup:
                @pytest.mark.parametrize("value", ["a/b", "c d", "ü:x", "..", "[x]"])
                def test_param(self, smtpd, value):
                    send(smtpd, "one of five")
                    assert False
            """
        }
    )
    result = pytester.runpytest("--smtpd-save-dir=out", "-p", "no:randomly", str(pytester.path / "sub"))
    result.assert_outcomes(failed=5)
    out = pytester.path / "out"
    # pytest writes the non-ASCII id as "\\xfc:x"; the backslash and the colon become "_".
    assert {p.name for p in out.iterdir()} == {
        "sub_test_ids.py__TestGroup__test_param[a_b]",
        "sub_test_ids.py__TestGroup__test_param[c_d]",
        "sub_test_ids.py__TestGroup__test_param[_xfc_x]",
        "sub_test_ids.py__TestGroup__test_param[..]",
        "sub_test_ids.py__TestGroup__test_param[[x]]",
    }
    for folder in out.iterdir():
        assert sorted(saved(folder)) == ["1.eml", "transcript.txt"]


def test_several_servers_get_a_folder_each(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mail="""
        from sender import send

        def test_relays(smtpd_factory):
            primary = smtpd_factory(hostname="primary.test")
            fallback = smtpd_factory(hostname="fallback.test")
            send(primary, "via primary")
            send(fallback, "via fallback")
            send(fallback, "again")
            assert False
        """
    )
    result = pytester.runpytest("--smtpd-save-dir=out")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "out" / "test_mail.py__test_relays"
    files = saved(folder)
    assert sorted(files) == [
        "server-1/1.eml",
        "server-1/transcript.txt",
        "server-2/1.eml",
        "server-2/2.eml",
        "server-2/transcript.txt",
    ]
    assert b"primary.test" in files["server-1/transcript.txt"]
    assert files["server-2/2.eml"].startswith(b"Subject: again\r\n")
    result.stdout.fnmatch_lines(
        [
            "*Captured smtpd transcript (primary.test) call*",
            f"Saved 1 message(s) and the transcript in {folder / 'server-1'}/",
            "*Captured smtpd transcript (fallback.test) call*",
            f"Saved 2 message(s) and the transcript in {folder / 'server-2'}/",
        ]
    )


def test_an_existing_folder_is_replaced(pytester: pytest.Pytester) -> None:
    stale = pytester.path / "out" / "test_mail.py__test_fails"
    (stale / "server-1").mkdir(parents=True)
    (stale / "3.eml").write_bytes(b"from an earlier run")
    (stale / "server-1" / "1.eml").write_bytes(b"from an earlier run")
    other = pytester.path / "out" / "test_mail.py__test_other"
    other.mkdir()
    (other / "1.eml").write_bytes(b"another test's")
    pytester.makepyfile(test_mail=failing_test("now"))
    pytester.runpytest("--smtpd-save-dir=out").assert_outcomes(failed=1)
    assert sorted(saved(stale)) == ["1.eml", "transcript.txt"]
    assert (other / "1.eml").read_bytes() == b"another test's"


def test_from_the_ini_file_relative_to_it(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_save_dir = artifacts/mail")
    pytester.makepyfile(test_mail=failing_test("ini"))
    (pytester.path / "elsewhere").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(pytester.path / "elsewhere")
        pytester.runpytest_inprocess(str(pytester.path)).assert_outcomes(failed=1)
    assert sorted(saved(pytester.path / "artifacts" / "mail")) == [
        "test_mail.py__test_fails/1.eml",
        "test_mail.py__test_fails/transcript.txt",
    ]


def test_the_command_line_wins_over_the_ini_file(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_save_dir = from-ini")
    pytester.makepyfile(test_mail=failing_test("cli"))
    pytester.runpytest("--smtpd-save-dir", "from-cli").assert_outcomes(failed=1)
    assert (pytester.path / "from-cli" / "test_mail.py__test_fails" / "1.eml").exists()
    assert not (pytester.path / "from-ini").exists()


def test_setup_and_teardown_failures_save_the_last_state(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mail="""
        import pytest
        from sender import send

        @pytest.fixture
        def broken_setup(smtpd):
            send(smtpd, "during setup")
            raise RuntimeError("set-up bug")

        @pytest.fixture
        def mail_at_teardown(smtpd):
            yield smtpd
            send(smtpd, "during teardown")

        def test_setup(broken_setup):
            pass

        def test_call(mail_at_teardown):
            send(mail_at_teardown, "during the test")
            assert False

        @pytest.fixture
        def broken_teardown(smtpd):
            yield smtpd
            raise RuntimeError("tear-down bug")

        def test_teardown(broken_teardown):
            send(broken_teardown, "passing body")
        """
    )
    result = pytester.runpytest("--smtpd-save-dir=out", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1, errors=2)
    out = pytester.path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "test_mail.py__test_call",
        "test_mail.py__test_setup",
        "test_mail.py__test_teardown",
    ]
    assert sorted(saved(out / "test_mail.py__test_setup")) == ["1.eml", "transcript.txt"]
    # The call failed; the mail its fixture sent while finishing is in the folder too.
    call = saved(out / "test_mail.py__test_call")
    assert [call[name].split(b"\r\n")[0] for name in ("1.eml", "2.eml")] == [
        b"Subject: during the test",
        b"Subject: during teardown",
    ]
    assert sorted(saved(out / "test_mail.py__test_teardown")) == ["1.eml", "transcript.txt"]


def test_the_option_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--smtpd-save-dir=DIR*", "*smtpd_save_dir (string):*"])


def test_a_folder_that_cannot_be_written_is_reported(pytester: pytest.Pytester) -> None:
    (pytester.path / "out").write_text("a file, not a folder")
    pytester.makepyfile(
        test_mail="""
        from sender import send

        def test_fails(smtpd):
            send(smtpd, "lost")
            assert False, "the test's own failure"
        """
    )
    result = pytester.runpytest("--smtpd-save-dir=out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test's own failure*", "Could not save the mail of this test in *out*: *"])


@pytest.mark.parametrize(
    ("nodeid", "name"),
    [
        ("tests/test_a.py::test_b", "tests_test_a.py__test_b"),
        ("test_a.py::TestC::test_d[1-x.y_z]", "test_a.py__TestC__test_d[1-x.y_z]"),
        ("t.py::test[a b/c\\d:e*f?g<h>i|j\"k'l]", "t.py__test[a_b_c_d_e_f_g_h_i_j_k_l]"),
        ("t.py::test[é]", "t.py__test[_]"),
        ("..", "__"),
        ("", "_"),
    ],
)
def test_folder_names(nodeid: str, name: str) -> None:
    assert _folder_name(nodeid) == name


def test_long_ids_are_cut_and_stay_distinct() -> None:
    one, two = _folder_name("t.py::test[" + "a" * 300 + "]"), _folder_name("t.py::test[" + "a" * 299 + "b]")
    assert len(one) == len(two) == 200
    assert one[:187] == two[:187] == "t.py__test[" + "a" * 176
    assert one != two
