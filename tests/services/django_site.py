"""A one-file Django site for tests/test_waitress_django.py, run as
``python django_site.py runserver 127.0.0.1:PORT`` (the autoreloader parent
and the child that serves).  ``GET /slow`` waits in ``slow_view`` until the
file named by ``SLOW_RELEASE`` exists."""

import os
import sys
import time

from django.conf import settings
from django.http import HttpResponse
from django.urls import path

if not settings.configured:
    settings.configure(
        DEBUG=True,
        SECRET_KEY="test-only-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        DATABASES={},
    )


def slow_view(request: object) -> HttpResponse:
    release = os.environ.get("SLOW_RELEASE", "/nonexistent")
    while not os.path.exists(release):
        time.sleep(0.02)
    return HttpResponse(f"pid {os.getpid()}\n")


urlpatterns = [path("slow", slow_view)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
