"""The URLs of the tiny password-reset site: Django's own views."""

from django.contrib.auth import views
from django.urls import include, path

urlpatterns = [
    # Django's own views; the mail gets an HTML alternative besides the text body.
    path(
        "password_reset/",
        views.PasswordResetView.as_view(
            email_template_name="registration/password_reset_email.txt",
            html_email_template_name="registration/password_reset_email.html",
        ),
        name="password_reset",
    ),
    path("", include("django.contrib.auth.urls")),
]
