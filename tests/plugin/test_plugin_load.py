"""Loading the plugin: its cost, and living next to smtpdfix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from smtpd_pytester import write_ini

FAKE_SMTPDFIX = """
import pytest

@pytest.fixture
def smtpd():
    return "the smtpdfix fixture"
"""


def fake_smtpdfix(pytester: pytest.Pytester) -> None:
    """Install a stand-in smtpdfix in the pytester directory: its package and
    distribution metadata with the ``pytest11`` entry point smtpdfix registers."""
    package = pytester.mkpydir("smtpdfix")
    package.joinpath("plugin.py").write_text(FAKE_SMTPDFIX)
    dist = pytester.mkdir("smtpdfix-0.5.2.dist-info")
    dist.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: smtpdfix\nVersion: 0.5.2\n")
    dist.joinpath("entry_points.txt").write_text("[pytest11]\nsmtpd = smtpdfix.plugin\n")


def test_importing_the_plugin_imports_no_server_code() -> None:
    script = (
        "import json, sys, pytest\n"
        "before = set(sys.modules)\n"
        "import pytest_smtpd.plugin\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    imported = json.loads(output)
    assert "pytest_smtpd.plugin" in imported
    assert [name for name in imported if not name.startswith("pytest_smtpd")] == []
    for heavy in ("pytest_smtpd.server", "pytest_smtpd.records", "pytest_smtpd.rules", "pytest_smtpd.tls"):
        assert heavy not in imported
    assert "pytest_smtpd.options" not in imported  # the Options class is built on first use


def test_a_run_without_smtpd_imports_no_server_code(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            print("LOADED", sorted(m for m in sys.modules if m.startswith("pytest_smtpd")))
        """
    )
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    loaded = next(line for line in result.outlines if line.startswith("LOADED "))
    modules = json.loads(loaded.removeprefix("LOADED ").replace("'", '"'))
    assert "pytest_smtpd.plugin" in modules
    for heavy in (
        "pytest_smtpd.server",
        "pytest_smtpd.records",
        "pytest_smtpd.rules",
        "pytest_smtpd.tls",
        "pytest_smtpd.options",
    ):
        assert heavy not in modules


def test_the_option_names_are_the_options_fields() -> None:
    import dataclasses

    from pytest_smtpd.option_names import OPTION_NAMES
    from pytest_smtpd.options import Options

    assert tuple(f.name for f in dataclasses.fields(Options) if not f.name.startswith("_")) == OPTION_NAMES


def test_smtpdfix_alongside_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:asyncio -p no:hypothesispytest -p no:cacheprovider\n")
    fake_smtpdfix(pytester)
    pytester.makepyfile("def test_which(smtpd):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestConfigWarning: pytest-smtpd and smtpdfix are both installed, and both define a fixture named "
            "'smtpd'*'-p no:smtpd -p pytest_smtpd'*",
        ]
    )


def test_smtpdfix_alongside_fails_a_strict_suite(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    fake_smtpdfix(pytester)
    pytester.makepyfile("def test_which(smtpd):\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret != pytest.ExitCode.OK
    result.stderr.fnmatch_lines(["*PytestConfigWarning: pytest-smtpd and smtpdfix are both installed*"])


def test_smtpdfix_can_be_disabled_as_the_warning_says(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    fake_smtpdfix(pytester)
    pytester.makepyfile("def test_which(smtpd):\n    assert type(smtpd).__name__ == 'SMTPServer'\n")
    result = pytester.runpytest_subprocess("-p", "no:smtpd", "-p", "pytest_smtpd")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*PytestConfigWarning*")


def test_smtpdfix_stand_in_is_loaded(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    fake_smtpdfix(pytester)
    pytester.makepyfile("def test_which(smtpd):\n    assert smtpd == 'the smtpdfix fixture'\n")
    result = pytester.runpytest_subprocess("-p", "no:pytest_smtpd")
    result.assert_outcomes(passed=1)


def test_exported_names_follow_the_modules_in_sys_modules() -> None:
    # pytester's in-process runs drop the modules an inner run imported; a name
    # exported by the package must then come from the module imported next.
    script = (
        "import sys, pytest_smtpd\n"
        "first = pytest_smtpd.Reply\n"
        "for name in [m for m in sys.modules if m.startswith('pytest_smtpd.')]:\n"
        "    del sys.modules[name]\n"
        "from pytest_smtpd.server import SMTPServer\n"
        "import pytest_smtpd.protocol as protocol\n"
        "print(first is not protocol.Reply, pytest_smtpd.Reply is protocol.Reply)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["True", "True"]
