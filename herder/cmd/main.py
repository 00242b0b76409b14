"""`herder` command: `herder serve` runs the embedded cloud; `herder api`, `conductor`,
`scheduler` and `compute` run one service each; `herder db upgrade` the schema; `herder openapi`
prints the API's OpenAPI document (docs/openapi.json)."""
import argparse
import gc
import os
import signal
import sys
import threading

from herder import conf as herder_conf
from herder import exception
from herder.cmd import clouds, services


def _serve(args) -> int:
    overrides = {"state_dir": os.path.abspath(os.path.expanduser(args.state_dir)),
                 "api__port": args.port, "api__listen": args.listen}
    if args.resize_confirm_window is not None:
        overrides["resize_confirm_window"] = args.resize_confirm_window
    if args.power_off_seconds is not None:
        overrides["compute__fake_power_off_seconds"] = args.power_off_seconds
    if args.compute_driver is not None:
        overrides["compute__compute_driver"] = args.compute_driver
    conf = herder_conf.build_conf([], args.config_file, **overrides)
    services.configure_logging(args.debug, "%(asctime)s %(levelname)s %(name)s %(message)s")
    from herder.embedded import EmbeddedCloud  # heavy imports only when serving
    try:
        cloud = EmbeddedCloud(conf, hosts=args.hosts)
        cloud.start()
    except exception.DriverError as error:   # a host that cannot run guests: say why, plainly
        print(f"herder serve: {error}", file=sys.stderr)
        return 1
    if conf.api.auth_strategy == "keystone":
        print(clouds.keystone_instructions(cloud.endpoint, args.hosts), flush=True)
    else:
        clouds_file = clouds.write(conf.state_dir, cloud.endpoint, conf.admin_token)
        print(clouds.instructions(cloud.endpoint, clouds_file, args.hosts), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    cloud.stop(conf.graceful_shutdown_timeout)
    return 0


def _db_upgrade(args) -> int:
    overrides = {"state_dir": os.path.abspath(os.path.expanduser(args.state_dir))}
    if args.connection:
        overrides["database__connection"] = args.connection
    conf = herder_conf.build_conf([], args.config_file, **overrides)
    url = herder_conf.database_url(conf)
    if url.startswith("sqlite"):
        os.makedirs(conf.state_dir, exist_ok=True)
    from herder.db.session import upgrade
    upgrade(url)
    print(f"database at {url.split('@')[-1]} is up to date")  # never print a password
    return 0


def _openapi(args) -> int:
    from herder.api.app import openapi_text
    sys.stdout.write(openapi_text())
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="herder", description=__doc__)
    top.add_argument("--config-file", action="append", default=[],
                     help="herder.conf (oslo.config INI); may be repeated")
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run api, conductor, scheduler and compute hosts "
                                         "in one process")
    serve.add_argument("--hosts", type=int, default=3, help="compute hosts (compute1..N)")
    serve.add_argument("--state-dir", default=herder_conf.DEFAULT_STATE_DIR)
    serve.add_argument("--listen", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8774)
    serve.add_argument("--resize-confirm-window", type=int, default=None,
                       help="seconds before finished moves are confirmed automatically")
    serve.add_argument("--power-off-seconds", type=float, default=None,
                       help="how long the fake hosts take to power a guest off")
    serve.add_argument("--compute-driver", choices=["fake", "libvirt"], default=None,
                       help="libvirt: real QEMU guests (scripts/libvirt/install.sh first); "
                            "default: [compute] compute_driver, which defaults to fake")
    serve.add_argument("--debug", action="store_true")
    serve.set_defaults(func=_serve)
    services.add_parsers(sub)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply every Alembic migration")
    up.add_argument("--state-dir", default=herder_conf.DEFAULT_STATE_DIR)
    up.add_argument("--connection", metavar="URL",
                    help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/herder or "
                         "mysql+pymysql://user:pw@host/herder (default: [database] connection, "
                         "else SQLite in the state directory)")
    up.set_defaults(func=_db_upgrade)
    openapi = sub.add_parser("openapi", help="print the OpenAPI document of the API "
                                             "(herder openapi > docs/openapi.json)")
    openapi.set_defaults(func=_openapi)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status = args.func(args)
    # The command is done (a service has stopped and let its requests finish). What is left
    # is the interpreter's exit, whose garbage collections walk every object a service built
    # up: 1-2 s of CPU after the service said it stopped, for nothing. Frozen objects are
    # left out of those collections; the process ends the same way, sooner.
    gc.freeze()
    return status


if __name__ == "__main__":
    sys.exit(main())
