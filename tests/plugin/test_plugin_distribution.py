"""The distribution: its version, and the other ``pytest-smtpd`` distribution installed beside it."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
from smtpd_pytester import write_ini

import pytest_smtpd


def fake_other_distribution(pytester: pytest.Pytester, *requires: str, entry_points: str = "") -> None:
    """Put the metadata of a ``pytest-smtpd`` 0.1.0 distribution on the inner run's path."""
    dist = pytester.mkdir("pytest_smtpd-0.1.0.dist-info")
    lines = ["Metadata-Version: 2.1", "Name: pytest-smtpd", "Version: 0.1.0"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    dist.joinpath("METADATA").write_text("\n".join(lines) + "\n")
    if entry_points:
        dist.joinpath("entry_points.txt").write_text(entry_points)


def test_version_is_the_installed_distributions() -> None:
    assert pytest_smtpd.__version__ == metadata.version("pytest-smtp-server")
    assert "__version__" in dir(pytest_smtpd)


def test_version_without_installed_metadata_is_unknown() -> None:
    script = (
        "import importlib.metadata as m\n"
        "def missing(name):\n"
        "    raise m.PackageNotFoundError(name)\n"
        "m.version = missing\n"
        "import pytest_smtpd\n"
        "print(pytest_smtpd.__version__)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output == "0+unknown\n"


def test_the_smtpdfix_shim_is_reported_with_what_to_uninstall(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:asyncio -p no:hypothesispytest -p no:cacheprovider\n")
    fake_other_distribution(pytester, "pytest", "smtpdfix")
    pytester.makepyfile("def test_plain(smtpd):\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestConfigWarning: the distribution pytest-smtpd 0.1.0 is installed in this environment: it is "
            "another project (a shim that installs smtpdfix)*'pip uninstall pytest-smtpd smtpdfix', then "
            "'pip install --force-reinstall pytest-smtp-server'*",
        ]
    )


def test_another_pytest_smtpd_is_reported_without_smtpdfix(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:asyncio -p no:hypothesispytest -p no:cacheprovider\n")
    fake_other_distribution(pytester, "pytest>=7.4", "smtpdfix>=0.5; extra == 'bench'")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*it is another project, and its*'pip uninstall pytest-smtpd', then*"])
    assert "uninstall pytest-smtpd smtpdfix" not in result.stdout.str()


def test_this_plugin_under_its_former_name_is_not_reported(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    fake_other_distribution(pytester, "pytest>=7.4", entry_points="[pytest11]\npytest_smtpd = pytest_smtpd.plugin\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_the_other_distribution_fails_a_strict_suite(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    fake_other_distribution(pytester, "smtpdfix")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret != pytest.ExitCode.OK
    result.stderr.fnmatch_lines(["*PytestConfigWarning: the distribution pytest-smtpd 0.1.0 is installed*"])


def test_no_warning_without_the_other_distribution(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
