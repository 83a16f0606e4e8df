"""The other ``pytest-smtpd``: a distribution of that name installed beside this plugin.

This plugin is distributed as ``pytest-smtp-server``. The ``pytest-smtpd`` on PyPI is
another project: a shim that installs smtpdfix and ships a ``pytest_smtpd/__init__.py``
of its own, which overwrites or shadows this plugin's. Removing it removes that file,
which the two share, so this plugin is reinstalled after.

Metadata under that name that registers this plugin's entry point is this plugin
itself, installed before it was renamed (an old install, or the ``pytest_smtpd.egg-info``
an editable install left in a clone): it shares the same files and is not reported.
"""

from __future__ import annotations

import re

import pytest

OTHER = "pytest-smtpd"
OURS = "pytest-smtp-server"


def other_distribution_warning() -> pytest.PytestConfigWarning | None:
    """The warning to give when a ``pytest-smtpd`` distribution is installed, else ``None``."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        found = distribution(OTHER)
    except PackageNotFoundError:
        return None
    if any(ep.group == "pytest11" and ep.value == "pytest_smtpd.plugin" for ep in found.entry_points):
        return None  # this plugin under its former name
    if any(_unconditional_name(requirement) == "smtpdfix" for requirement in found.requires or []):
        what = "another project (a shim that installs smtpdfix)"
        uninstall = f"pip uninstall {OTHER} smtpdfix"
    else:
        what = "another project"
        uninstall = f"pip uninstall {OTHER}"
    return pytest.PytestConfigWarning(
        f"the distribution {OTHER} {found.version} is installed in this environment: it is {what}, "
        f"and its pytest_smtpd/__init__.py overwrites or shadows this plugin's. Remove it and reinstall "
        f"this plugin: '{uninstall}', then 'pip install --force-reinstall {OURS}' "
        "(or 'pip install -e .' in a clone)."
    )


def _unconditional_name(requirement: str) -> str | None:
    """The project a ``Requires-Dist`` line names, or ``None`` if only an extra asks for it."""
    name, _, marker = requirement.partition(";")
    if "extra" in marker:
        return None
    return re.split(r"[\s\[(<>=!~]", name.strip(), maxsplit=1)[0].lower()


def warn_about_other_distribution(config: pytest.Config) -> None:
    """Issue :func:`other_distribution_warning`'s warning, if any, once for this run."""
    warning = other_distribution_warning()
    if warning is not None:
        config.issue_config_time_warning(warning, stacklevel=2)
