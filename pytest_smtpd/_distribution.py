"""The other ``pytest-smtpd``: a distribution of that name installed beside this plugin.

This plugin is distributed as ``pytest-smtp-server``. The ``pytest-smtpd`` on PyPI is
another project: a shim that installs smtpdfix and ships a ``pytest_smtpd/__init__.py``
of its own, which overwrites or shadows this plugin's. A distribution of that name can
also be an install of this plugin from before it was renamed. Either way, removing it
removes files this plugin shares with it, so this plugin is reinstalled after.
"""

from __future__ import annotations

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
    requires = found.requires or []
    if any(requirement.split(";")[0].strip().lower().startswith("smtpdfix") for requirement in requires):
        what = "another project (a shim that installs smtpdfix)"
        uninstall = f"pip uninstall {OTHER} smtpdfix"
    else:
        what = f"another project, or an install of this plugin from before it was renamed to {OURS}"
        uninstall = f"pip uninstall {OTHER}"
    return pytest.PytestConfigWarning(
        f"the distribution {OTHER} {found.version} is installed in this environment: it is {what}, "
        f"and its pytest_smtpd/__init__.py overwrites or shadows this plugin's. Remove it and reinstall "
        f"this plugin: '{uninstall}', then 'pip install --force-reinstall {OURS}' "
        "(or 'pip install -e .' in a clone)."
    )


def warn_about_other_distribution(config: pytest.Config) -> None:
    """Issue :func:`other_distribution_warning`'s warning, if any, once for this run."""
    warning = other_distribution_warning()
    if warning is not None:
        config.issue_config_time_warning(warning, stacklevel=2)
