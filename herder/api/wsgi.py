"""WSGI entry point for running the api under uWSGI, gunicorn or mod_wsgi:

    gunicorn 'herder.api.wsgi:application'
    uwsgi --http11-socket 127.0.0.1:8774 --module herder.api.wsgi:application

The configuration comes from the files named in `HERDER_CONFIG_FILES` (comma-separated), else
`/etc/herder/herder.conf` if it exists. The application is built on its first request, so
importing this module (as a WSGI server's master process does before forking) opens no database
or broker connection.
"""
import os
import threading

from herder import conf as herder_conf

DEFAULT_CONFIG_FILE = "/etc/herder/herder.conf"


def config_files() -> list[str]:
    named = os.environ.get("HERDER_CONFIG_FILES", "")
    if named:
        return [path.strip() for path in named.split(",") if path.strip()]
    return [DEFAULT_CONFIG_FILE] if os.path.exists(DEFAULT_CONFIG_FILE) else []


def init_application(files: list[str] | None = None):
    """The api's WSGI application, with its own database and bus handles."""
    from herder.api.service import build_app
    from herder.bus.rpc import bus_from_conf
    from herder.api.auth import warn_if_unauthenticated
    conf = herder_conf.build_conf([], files if files is not None else config_files())
    herder_conf.require_auth_strategy(conf, "The api's WSGI application")
    warn_if_unauthenticated(conf)
    return build_app(conf, herder_conf.database(conf), bus_from_conf(conf))


class _OnFirstRequest:
    def __init__(self):
        self._app = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = init_application()
        return self._app(environ, start_response)


application = _OnFirstRequest()
