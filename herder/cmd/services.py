"""`herder api|conductor|scheduler|compute`: one service per process, as clouds run them.

Every process reads the same `herder.conf` (`--config-file`): `[database] connection` and
`[messaging] transport_url` (amqp:// for RabbitMQ) for the control plane; a compute host reads
only `[messaging]` and its own options, and never opens the database. Each process runs until
SIGTERM or SIGINT, then stops taking requests and lets the running ones finish for up to
`graceful_shutdown_timeout` seconds; whatever is still running then is cut off (exit status 1)
and recovered as after a crash.
"""
import logging
import os
import signal
import sys
import threading

from herder import conf as herder_conf

LOG = logging.getLogger(__name__)


def _conf(args, **overrides):
    settings = {"state_dir": os.path.abspath(os.path.expanduser(args.state_dir))} \
        if args.state_dir else {}
    if getattr(args, "host", None):
        settings["host"] = args.host
    settings.update({k: v for k, v in overrides.items() if v is not None})
    conf = herder_conf.build_conf([], args.config_file, **settings)
    configure_logging(args.debug, "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    return conf


def configure_logging(debug: bool, line_format: str) -> None:
    """herder's own INFO lines (or everything with --debug); not the lines alembic writes for
    each of its plugins when the schema is upgraded at start, which tell an operator nothing."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=line_format)
    if not debug:
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _run_until_signalled(name: str, stop) -> int:
    """Block until SIGTERM/SIGINT, then stop gracefully: 0 if every request finished within
    `graceful_shutdown_timeout`. Otherwise the process ends at once with status 1, its running
    requests cut off as by a crash, which herder recovers from: a conductor's workflows are
    journaled and adopted by the next conductor, a compute's unacknowledged requests are handed
    by the broker to its next start. (Returning would not end it: the interpreter's exit waits
    for every worker thread, so a stuck request would keep the process alive for good.)"""
    signalled = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: signalled.set())
    signal.signal(signal.SIGINT, lambda *_: signalled.set())
    print(f"{name} running (pid {os.getpid()}); stop with SIGTERM", flush=True)
    signalled.wait()
    LOG.info("%s stopping: letting running requests finish", name)
    finished = stop()
    if not finished:
        LOG.warning("%s stopped with requests still running: exiting without them", name)
        logging.shutdown()
        os._exit(1)
    LOG.info("%s stopped", name)
    return 0


def run_api(args) -> int:
    from herder import catalogue
    from herder.api.service import ApiService
    from herder.bus.rpc import bus_from_conf
    from herder.cmd import clouds
    from herder import fault_injection
    conf = _conf(args, api__listen=args.listen, api__port=args.port)
    try:
        herder_conf.require_auth_strategy(conf, "herder api")
    except herder_conf.AuthStrategyUnset as error:
        print(f"herder api: {error}", file=sys.stderr)
        return 1
    db, bus = herder_conf.database(conf), bus_from_conf(conf)
    bus.fault_points = fault_injection.from_conf(conf, "api")
    catalogue.install(db, conf)
    api = ApiService(conf, db, bus)
    api.start()
    if conf.api.auth_strategy == "keystone":
        print(f"Compute API at {api.endpoint}/v2.1, behind Keystone", flush=True)
    else:
        os.makedirs(conf.state_dir, exist_ok=True)
        clouds_file = clouds.write(conf.state_dir, api.endpoint, conf.admin_token)
        print(f"Compute API at {api.endpoint}/v2.1; clouds.yaml for the openstack CLI: "
              f"{clouds_file}", flush=True)

    def stop() -> bool:
        api.stop()
        bus.close(conf.graceful_shutdown_timeout)
        return True
    return _run_until_signalled("herder api", stop)


def run_conductor(args) -> int:
    from herder.bus.rpc import bus_from_conf
    from herder.conductor.service import ConductorService
    conf = _conf(args)
    db, bus = herder_conf.database(conf), bus_from_conf(conf)
    conductor = ConductorService(conf, db, bus, conf.host)
    conductor.start()
    conductor.recover(in_background=True)  # other conductors may be running: leases decide
    return _run_until_signalled(f"herder conductor {conf.host}",
                                lambda: _stopped(conductor, bus, conf))


def run_scheduler(args) -> int:
    from herder.bus.rpc import bus_from_conf
    from herder.scheduler.service import SchedulerService
    conf = _conf(args)
    db, bus = herder_conf.database(conf), bus_from_conf(conf)
    scheduler = SchedulerService(conf, db, bus, conf.host)
    scheduler.start()
    return _run_until_signalled(f"herder scheduler {conf.host}",
                                lambda: _stopped(scheduler, bus, conf))


def run_compute(args) -> int:
    from herder import fault_injection
    from herder.bus.rpc import bus_from_conf
    from herder.compute.service import ComputeService
    conf = _conf(args, my_ip=args.my_ip)
    bus = bus_from_conf(conf)  # and no database: a compute host has no credentials for it
    # tests: the fault points of its replies
    bus.fault_points = fault_injection.from_conf(conf, conf.host)
    compute = ComputeService(conf, bus, conf.host, conf.my_ip)
    compute.start()
    return _run_until_signalled(f"herder compute {conf.host} ({conf.my_ip})",
                                lambda: _stopped(compute, bus, conf))


def _stopped(service, bus, conf) -> bool:
    finished = service.stop(conf.graceful_shutdown_timeout)
    bus.close(0)
    return finished


def add_parsers(sub) -> None:
    """The four service subcommands of `herder`."""
    def service(name: str, func, help_text: str, host_help: str | None = None):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--state-dir", default=None,
                            help="state directory (default: [DEFAULT] state_dir)")
        if host_help:
            parser.add_argument("--host", default=None, help=host_help)
        parser.add_argument("--debug", action="store_true")
        parser.set_defaults(func=func)
        return parser

    api = service("api", run_api, "run the Compute API (also: herder.api.wsgi:application)")
    api.add_argument("--listen", default=None, help="address (default: [api] listen)")
    api.add_argument("--port", type=int, default=None, help="port (default: [api] port)")
    service("conductor", run_conductor, "run a conductor (workflows)",
            "this conductor's name (default: [DEFAULT] host)")
    service("scheduler", run_scheduler, "run a scheduler",
            "this scheduler's name (default: [DEFAULT] host)")
    compute = service("compute", run_compute, "run one compute host",
                      "the compute host's name, e.g. compute1 (default: [DEFAULT] host)")
    compute.add_argument("--my-ip", default=None,
                         help="the host's own address, e.g. 127.0.1.1 (default: [DEFAULT] my_ip)")
