"""The settings of a tiny Django site with Django's own password reset (its URLs are in
``password_reset_urls.py``).

In a real project this is your settings module, with the templates in files; with
pytest-django, ``DJANGO_SETTINGS_MODULE`` points at it.
"""

from typing import Any

#: A form, its fields one by one (``{{ form }}`` warns on Django 4.2 about its default template).
FORM = '<form method="post">{% for field in form %}{{ field }}{% endfor %}</form>'

#: The templates Django's password-reset views and mail use, kept in memory for this example.
TEMPLATES = {
    "registration/password_reset_subject.txt": "Reset your password on {{ site_name }}",
    "registration/password_reset_email.txt": (
        "{% autoescape off %}Hello {{ user.get_username }},\n\n"
        "someone asked to reset your password on {{ site_name }}. Choose a new one here:\n\n"
        "{{ protocol }}://{{ domain }}{% url 'password_reset_confirm' uidb64=uid token=token %}\n\n"
        "If it was not you, ignore this mail.\n{% endautoescape %}"
    ),
    "registration/password_reset_email.html": (
        "<p>Hello {{ user.get_username }},</p>"
        '<p><a href="{{ protocol }}://{{ domain }}{% url "password_reset_confirm" uidb64=uid token=token %}">'
        "Choose a new password</a></p>"
    ),
    "registration/password_reset_form.html": FORM,
    "registration/password_reset_done.html": "Check your mail.",
    "registration/password_reset_confirm.html": (
        "{% if validlink %}" + FORM + "{% else %}This link has expired.{% endif %}"
    ),
    "registration/password_reset_complete.html": "Your password is set.",
}

SETTINGS: dict[str, Any] = {
    "SECRET_KEY": "only-for-the-docs-example",
    "ALLOWED_HOSTS": ["testserver"],  # the host name of Django's test client
    "ROOT_URLCONF": "password_reset_urls",
    "INSTALLED_APPS": ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
    "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast, for tests only
    "TEMPLATES": [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)]},
        }
    ],
    "USE_TZ": True,
    "DEFAULT_FROM_EMAIL": "noreply@example.com",
}


def configure() -> None:
    """Configure Django with this site, once per process (what a settings module does)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**SETTINGS)
        django.setup()
