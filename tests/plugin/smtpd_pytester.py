"""Set-up shared by the pytester tests of the plugin: the inner runs' ini file."""

from __future__ import annotations

import pytest

# Inner runs turn warnings into errors too, so a socket or thread the plugin
# leaks (ResourceWarning, unraisable exceptions) fails them.
BASE_INI = """\
[pytest]
addopts = -p no:asyncio -p no:hypothesispytest -p no:xdist -p no:xdist.looponfail -p no:cacheprovider --strict-markers
filterwarnings =
    error
"""


def write_ini(pytester: pytest.Pytester, *lines: str) -> None:
    """Write the inner run's ``pytest.ini``: the base plus ``lines``."""
    pytester.makeini(BASE_INI + "".join(f"{line}\n" for line in lines))
