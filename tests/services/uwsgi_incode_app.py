"""A WSGI application that arms itself in code, as a service written for
this library does (``setup_autorun`` with a signal and a service name, at
import: in the uWSGI master), for tests/test_uwsgi.py."""

import signal

from wsgi_slow_app import application

from gurumeditation import TextGuruMeditation

TextGuruMeditation.setup_autorun("2.0", service_name="incode-svc", signum=signal.SIGUSR2)

__all__ = ["application"]
