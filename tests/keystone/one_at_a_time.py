"""Keystone's WSGI application, answering one request at a time (loaded by uWSGI from
.venv-keystone, see server.py).

Keystone on SQLite fails concurrent writers with "database is locked": each of its transactions
begins deferred, so two requests that both read and then write deadlock on SQLite's single write
lock, and one gets SQLITE_BUSY at once, whatever the busy timeout. A test Keystone answers in tens
of milliseconds, so taking requests in turn costs little; uWSGI's threads still take connections
in parallel, so an idle keep-alive connection never holds up the others.
"""
import threading

from keystone.wsgi.api import application as keystone_application

_turn = threading.Lock()


def application(environ, start_response):
    with _turn:
        # the whole body is produced inside the turn: Keystone's work may be lazy
        body = keystone_application(environ, start_response)
        try:
            return list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
