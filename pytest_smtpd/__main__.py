"""``python -m pytest_smtpd``: the debugging server (see :mod:`pytest_smtpd.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
