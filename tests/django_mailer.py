"""Django's SMTP backend with explicit options, the way each Django version wants it:
``MAILERS`` from Django 6.1 (where ``get_connection()`` and making a backend directly
are deprecated), ``get_connection()`` before."""

from __future__ import annotations

from typing import Any

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def smtp_backend(**options: Any) -> Any:
    """An open-able SMTP ``EmailBackend`` with these options (``host``, ``port``, ``use_tls``, ...)."""
    import django
    from django.conf import settings
    from django.core import mail

    if not settings.configured:
        settings.configure()
    if django.VERSION >= (6, 1):
        from django.test import override_settings

        with override_settings(MAILERS={"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": options}}):
            return mail.mailers["default"]
    return mail.get_connection(SMTP_BACKEND, fail_silently=False, **options)
