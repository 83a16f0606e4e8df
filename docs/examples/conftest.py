import sys
from pathlib import Path

# The examples import the small application module beside them.
sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure() -> None:
    # Django's settings can be configured once per process: the password-reset example needs
    # its site (apps, a database, URLs), so it is configured here, before any test module runs.
    try:
        import django  # noqa: F401
    except ImportError:
        return
    import password_reset_settings

    password_reset_settings.configure()
