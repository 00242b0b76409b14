"""Configuration options (oslo.config), with Nova's names where Nova has them.

Each herder process builds its own ConfigOpts with `build_conf` instead of using a global, so that
tests can run several independent clouds in one interpreter.
"""
import os

from oslo_config import cfg
from oslo_policy import opts as policy_opts

DEFAULT_STATE_DIR = os.path.expanduser("~/.local/share/herder")

_default_opts = [
    cfg.StrOpt("state_dir", default=DEFAULT_STATE_DIR,
               help="Where the embedded cloud keeps its database, images and instances directories."),
    cfg.StrOpt("instances_path", default=None,
               help="Root of the per-host instances directories (default: <state_dir>/hosts)."),
    cfg.IntOpt("resize_confirm_window", default=0, min=0,
               help="Seconds after which a finished migration or resize is confirmed automatically "
                    "(0 = never)."),
    cfg.BoolOpt("allow_resize_to_same_host", default=False,
                help="Allow a resize to pick the server's current host."),
    cfg.IntOpt("shutdown_timeout", default=60, min=0,
               help="Seconds to wait for a guest to power off cleanly."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="Seconds without a heartbeat after which a service is reported down."),
    cfg.IntOpt("report_interval", default=10, min=1, help="Seconds between service heartbeats."),
    cfg.StrOpt("default_availability_zone", default="nova"),
    cfg.StrOpt("admin_token", default="herder-admin-token", secret=True,
               help="A token that authenticates as the cloud administrator (embedded/noauth mode)."),
]

_api_opts = [
    cfg.HostAddressOpt("listen", default="127.0.0.1"),
    cfg.PortOpt("port", default=8774),
    cfg.IntOpt("max_limit", default=1000, min=1, help="The most items a list request returns."),
    cfg.StrOpt("public_endpoint", default=None,
               help="Base URL clients reach the API at (default: http://<listen>:<port>)."),
]

_compute_opts = [
    cfg.IntOpt("shutdown_retry_interval", default=10, min=1),
    cfg.IntOpt("max_concurrent_migrations", default=8, min=1,
               help="Moves a compute host works on at once."),
    cfg.FloatOpt("fake_power_off_seconds", default=0.0, min=0.0,
                 help="How long the fake driver takes to power a guest off."),
    cfg.IntOpt("fake_vcpus", default=16, min=1, help="vCPUs each fake host reports."),
    cfg.IntOpt("fake_memory_mb", default=32768, min=1, help="Memory each fake host reports."),
    cfg.IntOpt("fake_disk_gb", default=500, min=1, help="Disk each fake host reports."),
    cfg.FloatOpt("cpu_allocation_ratio", default=4.0),
    cfg.FloatOpt("ram_allocation_ratio", default=1.0),
    cfg.FloatOpt("disk_allocation_ratio", default=1.0),
    cfg.IntOpt("reserved_host_memory_mb", default=512, min=0),
    cfg.FloatOpt("periodic_interval", default=1.0, min=0.05,
                 help="Seconds between runs of the compute periodic tasks (auto-confirm, heartbeat)."),
]

_scheduler_opts = [
    cfg.IntOpt("max_attempts", default=3, min=1,
               help="Hosts tried for one move: the selected host plus alternates."),
]

_filter_scheduler_opts = [
    cfg.ListOpt("enabled_filters",
                default=["ComputeFilter", "ResourceFilter", "AvailabilityZoneFilter",
                         "ImagePropertiesFilter"]),
    cfg.ListOpt("weighers", default=["RAMWeigher", "CPUWeigher", "DiskWeigher"]),
]

_quota_opts = [
    cfg.IntOpt("instances", default=10),
    cfg.IntOpt("cores", default=20),
    cfg.IntOpt("ram", default=51200),
]

_database_opts = [
    cfg.StrOpt("connection", default=None, secret=True,
               help="SQLAlchemy URL: sqlite:///<path>, postgresql+psycopg://user:password@host/"
                    "herder or mysql+pymysql://user:password@host/herder (PostgreSQL and "
                    "MariaDB/MySQL need the `postgresql` or `mysql` extra, and an existing, "
                    "empty database; `herder db upgrade` creates the tables). "
                    "Default: sqlite:///<state_dir>/herder.sqlite."),
]

_messaging_opts = [
    cfg.StrOpt("transport_url", default="memory://", secret=True,
               help="kombu URL: memory:// runs the bus in-process, amqp:// uses RabbitMQ."),
    cfg.FloatOpt("rpc_timeout", default=60.0, min=0.1, help="Seconds an RPC call waits for a reply."),
]

_workflow_opts = [
    cfg.FloatOpt("step_deadline", default=600.0, min=1.0,
                 help="Seconds one workflow step may take before the move is rolled back."),
]

_fault_opts = [
    cfg.ListOpt("inject", default=[],
                help="Fault points to trigger, as <host>:<driver step> (tests only; off in production)."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    policy_opts.set_defaults(conf)  # [oslo_policy] policy_file etc., settable like our own
    conf.register_opts(_default_opts)
    conf.register_opts(_api_opts, group="api")
    conf.register_opts(_compute_opts, group="compute")
    conf.register_opts(_scheduler_opts, group="scheduler")
    conf.register_opts(_filter_scheduler_opts, group="filter_scheduler")
    conf.register_opts(_quota_opts, group="quota")
    conf.register_opts(_database_opts, group="database")
    conf.register_opts(_messaging_opts, group="messaging")
    conf.register_opts(_workflow_opts, group="workflow")
    conf.register_opts(_fault_opts, group="fault_injection")


def build_conf(args: list[str] | None = None, config_files: list[str] | None = None,
               **overrides) -> cfg.ConfigOpts:
    """A fresh, parsed configuration; `overrides` are `group__option=value` or `option=value`."""
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(args or [], project="herder", default_config_files=config_files or [])
    for key, value in overrides.items():
        group, _, name = key.rpartition("__")
        conf.set_override(name, value, group=group or None)
    return conf


def database_url(conf: cfg.ConfigOpts) -> str:
    return conf.database.connection or f"sqlite:///{os.path.join(conf.state_dir, 'herder.sqlite')}"


def instances_root(conf: cfg.ConfigOpts) -> str:
    return conf.instances_path or os.path.join(conf.state_dir, "hosts")


def list_opts():
    """For oslo-config-generator."""
    return [(None, _default_opts), ("api", _api_opts), ("compute", _compute_opts),
            ("scheduler", _scheduler_opts), ("filter_scheduler", _filter_scheduler_opts),
            ("quota", _quota_opts), ("database", _database_opts), ("messaging", _messaging_opts),
            ("workflow", _workflow_opts), ("fault_injection", _fault_opts)]
