"""Configuration options (oslo.config), with Nova's names where Nova has them.

Each herder process builds its own ConfigOpts with `build_conf` instead of using a global, so that
tests can run several independent clouds in one interpreter.
"""
import hashlib
import hmac
import os
import socket

from oslo_config import cfg
from oslo_policy import opts as policy_opts

DEFAULT_STATE_DIR = os.path.expanduser("~/.local/share/herder")

_default_opts = [
    cfg.StrOpt("state_dir", default=DEFAULT_STATE_DIR,
               help="Where the embedded cloud keeps its database, images and instances directories."),
    cfg.StrOpt("instances_path", default=None,
               help="Root of the per-host instances directories (default: <state_dir>/hosts)."),
    cfg.IntOpt("resize_confirm_window", default=0, min=0,
               help="Seconds a finished migration or resize may wait in VERIFY_RESIZE before "
                    "resize_confirm_action is taken automatically (0 = never). Read by compute "
                    "hosts; a flavor's `herder:resize_confirm_window` extra spec or a "
                    "project's confirm policy overrides it (docs/workflow.md, Automatic "
                    "confirmation)."),
    cfg.StrOpt("resize_confirm_action", default="confirm", choices=["confirm", "revert"],
               help="What happens to a move whose confirm window has passed: confirm (Nova's "
                    "behaviour) or revert (back to its source host and old flavor, as a "
                    "user's revertResize). Read by compute hosts; a flavor's "
                    "`herder:resize_confirm_action` extra spec or a project's confirm policy "
                    "overrides it."),
    cfg.BoolOpt("allow_resize_to_same_host", default=False,
                help="Allow a resize to pick the server's current host."),
    cfg.IntOpt("shutdown_timeout", default=60, min=0,
               help="Seconds to wait for a guest to power off cleanly."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="Seconds without a heartbeat after which a service is reported down."),
    cfg.IntOpt("report_interval", default=10, min=1, help="Seconds between service heartbeats."),
    cfg.StrOpt("default_availability_zone", default="nova"),
    cfg.StrOpt("host", default=socket.gethostname(), sample_default="<hostname>",
               help="This service's host name (a compute host's name, as the API shows it). "
                    "Services of one kind running at the same time need different names: a "
                    "conductor that starts adopts at once the workflows that earlier "
                    "processes of its name left."),
    cfg.HostAddressOpt("my_ip", default="127.0.0.1",
                       help="The address a compute host binds for other hosts to reach it "
                            "(disk transfers). Loopback 127.0.1.N when several run on one "
                            "machine."),
    cfg.IntOpt("graceful_shutdown_timeout", default=60, min=0,
               help="Seconds a stopping service (SIGTERM) lets running steps finish; what is "
                    "still running then is picked up from the journal by the next start."),
    cfg.StrOpt("admin_token", default="herder-admin-token", secret=True,
               help="A token that authenticates as the cloud administrator (embedded/noauth mode)."),
]

_api_opts = [
    cfg.HostAddressOpt("listen", default="127.0.0.1"),
    cfg.PortOpt("port", default=8774),
    cfg.IntOpt("max_limit", default=1000, min=1, help="The most items a list request returns."),
    cfg.IntOpt("workers", default=16, min=1,
               help="Requests the api's own HTTP server (herder api, herder serve) answers at "
                    "once."),
    cfg.IntOpt("max_request_body_size", default=114688, min=1,
               help="Bytes a request body may hold (413 beyond), except an image's data, "
                    "which [image] max_image_size_mb bounds. Nova's default."),
    cfg.IntOpt("max_header_line", default=16384, min=256,
               help="Bytes one request header line may hold (431 beyond), as Nova's "
                    "[wsgi] max_header_line."),
    cfg.IntOpt("max_request_header_size", default=65536, min=1024,
               help="Bytes the request line and all headers of a request may hold together "
                    "(431 beyond)."),
    cfg.IntOpt("client_timeout", default=30, min=1,
               help="Seconds a client of the api's own HTTP server (herder api, herder serve) "
                    "has to send a request's line and headers; the connection is closed "
                    "after that. Until they are whole, the request holds no worker thread."),
    cfg.IntOpt("max_connections", default=2000, min=1,
               help="Connections whose request is still arriving that the api's own HTTP "
                    "server keeps at once; more are closed on arrival."),
    cfg.IntOpt("max_connections_per_client", default=200, min=1,
               help="Of those, how many one client address may hold; more are closed on "
                    "arrival. Raise it if clients reach the api through a proxy that shows one "
                    "address for all."),
    cfg.StrOpt("public_endpoint", default=None,
               help="Base URL clients reach the API at (default: http://<listen>:<port>)."),
    cfg.StrOpt("auth_strategy", default=None, choices=["noauth2", "keystone"],
               help="keystone: Keystone tokens, validated by keystonemiddleware as configured "
                    "in [keystone_authtoken] (needs the `keystone` extra); what production "
                    "uses. noauth2: no authentication, tokens are `user:project[:roles]` or "
                    "the admin token, so anyone may act as anyone (trials and tests). Unset: "
                    "`herder serve` runs noauth2, while `herder api` and the WSGI app refuse "
                    "to start until it is chosen."),
]

_compute_opts = [
    cfg.StrOpt("compute_driver", default="fake", choices=["fake", "libvirt"],
               help="The hypervisor driver of compute hosts. fake: real disk files, pretend "
                    "guests (tests, scale runs). libvirt: real QEMU guests through libvirt "
                    "(see [libvirt])."),
    cfg.StrOpt("instances_dir", default=None,
               help="The directory this process's compute hosts keep their guests in (Nova's "
                    "instances_path). Default: <instances_path>/<host>, one per host. Hosts "
                    "that name the same directory (an NFS export mounted at one path on each, "
                    "or one directory for simulated hosts on one machine) share their storage: "
                    "a move between two of them copies the guest's files locally and sends "
                    "nothing over the network. Each move finds out with a probe file (see "
                    "docs/real-guests.md)."),
    cfg.IntOpt("shutdown_retry_interval", default=10, min=1,
               help="Seconds between ACPI power-off requests while a guest shuts down (a "
                    "request sent before the guest listens is lost)."),
    cfg.IntOpt("max_concurrent_migrations", default=8, min=1,
               help="How many moves (cold migrations and resizes) this host takes part in "
                    "at once, as their source or their destination, across every conductor. "
                    "The host reports it with its inventory; a move over the limit of one of "
                    "its hosts waits in order (migration `queued`, task_state resize_queued) "
                    "until both have room. The conductors use their own value for a host that "
                    "has reported none. It also sizes the host's pool of request workers "
                    "(twice this value, plus 8 for its other requests)."),
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
                 help="Seconds between runs of the compute periodic tasks (the automatic "
                      "confirm or revert of moves out of the host, at most once a second; "
                      "heartbeat)."),
]

_libvirt_opts = [
    cfg.StrOpt("virt_type", default="qemu", choices=["qemu", "kvm"],
               help="qemu: software emulation (TCG), runs anywhere. kvm: hardware "
                    "acceleration; choose it only where a KVM guest is known to run: a "
                    "/dev/kvm that exists is not proof (a nested, paravirtual KVM may crash "
                    "ordinary guests)."),
    cfg.StrOpt("connection_uri", default="qemu:///system",
               help="The libvirt daemon compute hosts use. Several simulated hosts may share "
                    "one: each names its domains after itself and keeps its own "
                    "instances_path."),
    cfg.StrOpt("guest_image_file",
               default=os.path.expanduser("~/.cache/herder/guest-image/herder-guest.qcow2"),
               sample_default="~/.cache/herder/guest-image/herder-guest.qcow2",
               help="The bootable image a new cloud registers as `herder-guest` when its "
                    "computes run the libvirt driver (scripts/guest-image/build.sh makes it). "
                    "Missing: no such image is registered, and the log says how to build it."),
]

_conductor_opts = [
    cfg.IntOpt("workers", default=64, min=1, help="Requests one conductor works on at once."),
    cfg.IntOpt("report_workers", default=8, min=1,
               help="Compute host reports (heartbeats, progress) one conductor handles at once, "
                    "apart from the requests above. At least one per host reporting in the "
                    "same second keeps heartbeats from queueing behind each other."),
    cfg.FloatOpt("host_drain_interval", default=1.0, min=0.05,
                 help="Seconds between two looks of a conductor at the host drain and restore "
                      "jobs it drives: each look reads how their moves went, starts new ones "
                      "within the jobs' limits and confirms finished ones if asked. A job is "
                      "driven by one conductor at a time, for [workflow] lease_seconds after "
                      "its last look; then another conductor takes it over."),
]

_scheduler_opts = [
    cfg.IntOpt("workers", default=16, min=1, help="Requests one scheduler works on at once."),
    cfg.IntOpt("max_attempts", default=3, min=1,
               help="Hosts tried for one move: the selected host plus alternates."),
]

_filter_scheduler_opts = [
    cfg.ListOpt("enabled_filters",
                default=["ComputeFilter", "ResourceFilter", "AvailabilityZoneFilter",
                         "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
                         "ServerGroupAffinityFilter"]),
    cfg.ListOpt("weighers", default=["RAMWeigher", "CPUWeigher", "DiskWeigher",
                                     "ServerGroupSoftAffinityWeigher",
                                     "ServerGroupSoftAntiAffinityWeigher"]),
    cfg.IntOpt("max_server_per_host", default=1, min=1,
               help="Members of an anti-affinity server group one host may hold when the group "
                    "has no max_server_per_host rule of its own."),
    # Nova's default is 1.0, with which the three spread weighers (2 or 3 against 1) outvote a
    # soft-affinity group on every host but the emptiest: the group's wish would only break
    # ties. herder makes the group's wish count more than the spread, as its users expect.
    cfg.FloatOpt("soft_affinity_weight_multiplier", default=10.0, min=0.0,
                 help="Weight of ServerGroupSoftAffinityWeigher against the spread weighers."),
    cfg.FloatOpt("soft_anti_affinity_weight_multiplier", default=10.0, min=0.0,
                 help="Weight of ServerGroupSoftAntiAffinityWeigher against the spread "
                      "weighers."),
]

_quota_opts = [
    # -1 means unlimited, as in Nova
    cfg.IntOpt("instances", default=10, min=-1),
    cfg.IntOpt("cores", default=20, min=-1),
    cfg.IntOpt("ram", default=51200, min=-1, help="Megabytes of RAM per project."),
    cfg.IntOpt("metadata_items", default=128, min=-1, help="Metadata items per server."),
    cfg.IntOpt("injected_files", default=5, min=-1),
    cfg.IntOpt("injected_file_content_bytes", default=10240, min=-1),
    cfg.IntOpt("injected_file_path_length", default=255, min=-1),
    cfg.IntOpt("key_pairs", default=100, min=-1),
    cfg.IntOpt("server_groups", default=10, min=-1, help="Server groups per project."),
    cfg.IntOpt("server_group_members", default=10, min=-1, help="Servers per server group."),
    # what the API still shows before 2.36 (Nova's deprecated nova-network quotas)
    cfg.IntOpt("floating_ips", default=10, min=-1),
    cfg.IntOpt("fixed_ips", default=-1, min=-1),
    cfg.IntOpt("security_groups", default=10, min=-1),
    cfg.IntOpt("security_group_rules", default=20, min=-1),
]

_database_opts = [
    cfg.StrOpt("connection", default=None, secret=True,
               help="SQLAlchemy URL: sqlite:///<path>, postgresql+psycopg://user:password@host/"
                    "herder or mysql+pymysql://user:password@host/herder (PostgreSQL and "
                    "MariaDB/MySQL need the `postgresql` or `mysql` extra, and an existing, "
                    "empty database; `herder db upgrade` creates the tables). "
                    "Default: sqlite:///<state_dir>/herder.sqlite."),
    cfg.IntOpt("max_pool_size", default=20, min=1,
               help="Database connections each herder process keeps open. Every process (api, "
                    "each conductor and scheduler) holds up to max_pool_size + max_overflow: "
                    "keep the sum over all of them under the server's max_connections."),
    cfg.IntOpt("max_overflow", default=20, min=0,
               help="Connections a process may open beyond max_pool_size under load; closed "
                    "again when returned."),
]

_messaging_opts = [
    cfg.StrOpt("transport_url", default="memory://", secret=True,
               help="kombu URL: memory:// runs the bus in-process, amqp:// uses RabbitMQ."),
    cfg.FloatOpt("rpc_timeout", default=60.0, min=0.1, help="Seconds an RPC call waits for a reply."),
    cfg.StrOpt("namespace", default="",
               help="Prefix of every queue and exchange name, so that several herder clouds "
                    "can share one broker. Every service of one cloud must use the same."),
]

_workflow_opts = [
    cfg.FloatOpt("step_deadline", default=600.0, min=1.0,
                 help="Seconds one workflow step may take before the move is rolled back. "
                      "A disk copy that still makes progress goes on past it (see "
                      "copy_stall_timeout)."),
    cfg.FloatOpt("copy_stall_timeout", default=120.0, min=1.0,
                 help="Past step_deadline, a disk copy is given up when its progress has not "
                      "moved for this many seconds: a large disk on a slow link completes, a "
                      "stuck copy does not wait forever."),
    cfg.FloatOpt("lease_seconds", default=30.0, min=1.0,
                 help="A conductor owns the workflows it runs for this long after its last "
                      "renewal; after that, another conductor adopts and recovers them (a "
                      "conductor restarted under the same host name does so at once)."),
    cfg.FloatOpt("recovery_interval", default=10.0, min=0.1,
                 help="Seconds between a conductor's looks for workflows and requests to "
                      "recover. (It renews its leases three times per lease_seconds, on a "
                      "thread and a database connection of their own.)"),
    cfg.FloatOpt("request_resend_after", default=10.0, min=0.1,
                 help="A request the api accepted (and recorded) that no conductor has taken "
                      "this many seconds later is sent to the conductors again: its first "
                      "cast was lost (the broker or a conductor died). Sent again at most "
                      "once per this many seconds; the first conductor to take it runs it. "
                      "A conductor holds the requests it has taken and not yet started for "
                      "this long, renewing the hold three times as often: a held request is "
                      "not sent again, however long it waits for a worker."),
    cfg.IntOpt("build_attempts", default=3, min=1,
               help="Times a server's build is started when one is cut short by something "
                    "that passes (the database away, a conductor restarted mid-build): the "
                    "build is undone and started again. After the last, or after any other "
                    "failure, the server goes to ERROR."),
    cfg.FloatOpt("lost_request_timeout", default=300.0, min=0.0,
                 help="A recorded request no conductor has taken after this many seconds is "
                      "given up; a server in a task state the api sets, with no recorded "
                      "request, no workflow and no change for this long is put back as it "
                      "was, with a fault saying so."),
]

_transfer_opts = [
    cfg.PortOpt("port", default=0,
                help="TCP port of a compute host's transfer agent, on the host's own address "
                     "(0: an ephemeral port; the bound port is what sources are told)."),
    cfg.IntOpt("token_ttl", default=300, min=1,
               help="Seconds a transfer grant (token) stays valid before the source connects "
                    "with it. Grants are single-use and scoped to one migration and one disk."),
    cfg.FloatOpt("bandwidth_limit_mbps", default=0.0, min=0.0,
                 help="Megabits per second one disk transfer may use (0 = unlimited)."),
    cfg.IntOpt("chunk_size_kb", default=1024, min=4, max=4096,
               help="KiB per transfer chunk: each is checked, acknowledged and, if it arrived "
                    "damaged, sent again. A chunk never crosses a 1 MiB block of the disk "
                    "digest, so values above 1024 act as 1024."),
    cfg.IntOpt("window_chunks", default=16, min=1,
               help="Chunks a source sends ahead of the destination's acknowledgements (1: "
                    "stop-and-wait). A damaged chunk is sent again with those after it."),
    cfg.FloatOpt("io_timeout", default=60.0, min=1.0,
                 help="Seconds either side of a transfer waits on a silent peer."),
    cfg.FloatOpt("hello_timeout", default=10.0, min=0.1,
                 help="Seconds a source has, from connecting, to complete its greeting (TLS "
                      "handshake and HELLO with its grant) before the agent hangs up."),
    cfg.IntOpt("max_connections", default=64, min=1,
               help="Connections a host's transfer agent serves at once; more are closed on "
                    "arrival (each one holds a thread)."),
    cfg.IntOpt("max_attempts", default=3, min=1,
               help="Times the conductor tries a disk transfer; each retry gets a fresh grant "
                    "and resumes after the last extent the destination verified."),
    cfg.IntOpt("reserved_disk_mb", default=64, min=0,
               help="MiB of the instances directory's filesystem a destination keeps free: it "
                    "refuses a disk whose data would not fit besides this and what the "
                    "transfers under way will still write."),
    cfg.StrOpt("tls_cert_file", default=None,
               help="PEM certificate of this host's transfer agent, used as the server "
                    "certificate when receiving and the client certificate when sending. "
                    "With tls_key_file set too, transfers to and from this host use TLS only. "
                    "It must name the host's address (an IP SubjectAltName)."),
    cfg.StrOpt("tls_key_file", default=None,
               help="PEM private key of tls_cert_file."),
    cfg.StrOpt("tls_ca_file", default=None,
               help="PEM CA certificate(s) that sign the transfer agents' certificates: a "
                    "source verifies the destination against it, and a destination requires "
                    "a client certificate signed by it (mutual TLS). Unset: sources verify "
                    "against the system trust store and destinations ask for no client "
                    "certificate."),
]

_image_opts = [
    cfg.IntOpt("max_image_size_mb", default=10240, min=1,
               help="The largest image data an upload (PUT /v2/images/{id}/file) may store, "
                    "in MiB; a larger one is refused with 413 and leaves nothing behind."),
    cfg.StrOpt("url_signing_key", default=None, secret=True,
               help="Secret with which the conductor signs the image download URLs it hands "
                    "to compute hosts (which hold no credentials), and the api checks them. "
                    "Every api and conductor of a cloud must have the same. When unset, it "
                    "is derived (HMAC-SHA256) from [DEFAULT] admin_token, which they already "
                    "share through herder.conf and which grants more than a download does; "
                    "but not when [api] auth_strategy = keystone and admin_token keeps its "
                    "well-known default: then a random key is made once and shared through "
                    "the database (table service_secrets)."),
    cfg.StrOpt("api_url", default=None,
               help="Base URL at which compute hosts reach the api for image downloads "
                    "(default: [api] public_endpoint, else http://<[api] listen>:<[api] "
                    "port>, with 127.0.0.1 for a wildcard listen address). Set it when the "
                    "api listens on an address compute hosts cannot reach as such."),
    cfg.IntOpt("url_ttl", default=3600, min=1,
               help="Seconds a signed image download URL stays valid after the conductor "
                    "made it. A download that started in time runs to its end."),
]

_fault_opts = [
    cfg.ListOpt("inject", default=[],
                help="Fault points to trigger, as <host>:<driver step> (tests only; off in production)."),
    cfg.StrOpt("hold_dir", default=None,
               help="Directory through which tests hold a service at a fault point (see "
                    "herder/fault_injection.py; tests only; unset in production)."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    policy_opts.set_defaults(conf)  # [oslo_policy] policy_file etc., settable like our own
    conf.register_opts(_default_opts)
    conf.register_opts(_api_opts, group="api")
    conf.register_opts(_compute_opts, group="compute")
    conf.register_opts(_libvirt_opts, group="libvirt")
    conf.register_opts(_conductor_opts, group="conductor")
    conf.register_opts(_scheduler_opts, group="scheduler")
    conf.register_opts(_filter_scheduler_opts, group="filter_scheduler")
    conf.register_opts(_quota_opts, group="quota")
    conf.register_opts(_database_opts, group="database")
    conf.register_opts(_messaging_opts, group="messaging")
    conf.register_opts(_workflow_opts, group="workflow")
    conf.register_opts(_transfer_opts, group="transfer")
    conf.register_opts(_image_opts, group="image")
    conf.register_opts(_fault_opts, group="fault_injection")


class AuthStrategyUnset(Exception):
    """A separately deployed api was started without choosing how callers authenticate."""

    def __init__(self, what: str):
        super().__init__(
            f"{what} needs [api] auth_strategy in its configuration: keystone (production: "
            "Keystone tokens) or noauth2 (no authentication: anyone may act as any project, "
            "and whoever has the admin token is admin).")


def require_auth_strategy(conf, what: str) -> None:
    """AuthStrategyUnset unless [api] auth_strategy was chosen (herder api, the WSGI app)."""
    if conf.api.auth_strategy is None:
        raise AuthStrategyUnset(what)


def build_conf(args: list[str] | None = None, config_files: list[str] | None = None,
               **overrides) -> cfg.ConfigOpts:
    """A fresh, parsed configuration; `overrides` are `group__option=value` or `option=value`."""
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(args or [], project="herder", default_config_files=config_files or [])
    for key, value in overrides.items():
        group, _, name = key.rpartition("__")
        conf.set_override(name, value, group=group or None)
    _derive_image_defaults(conf)
    return conf


_DEFAULT_ADMIN_TOKEN = next(o.default for o in _default_opts if o.name == "admin_token")


def _derive_image_defaults(conf: cfg.ConfigOpts) -> None:
    """[image] url_signing_key and api_url, when unset, from what every api and conductor of a
    cloud already shares (see their help), so that `conf.image.*` can be used as they are."""
    if conf.image.url_signing_key is None and (
            conf.api.auth_strategy != "keystone" or
            conf.admin_token != _DEFAULT_ADMIN_TOKEN):
        conf.set_default("url_signing_key", hmac.new(
            conf.admin_token.encode(), b"herder image URL signing key", hashlib.sha256
        ).hexdigest(), group="image")
    if conf.image.api_url is None:
        conf.set_default("api_url", default_api_url(conf), group="image")


def default_api_url(conf: cfg.ConfigOpts, port: int | None = None) -> str:
    """Where the api is reached: its public endpoint, else its listen address (loopback for a
    wildcard) and `port` (default: [api] port; the bound one when that is 0)."""
    if conf.api.public_endpoint:
        return conf.api.public_endpoint.rstrip("/")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(conf.api.listen,
                                                                     conf.api.listen)
    return f"http://{f'[{host}]' if ':' in host else host}:{port or conf.api.port}"


def database(conf: cfg.ConfigOpts):
    """This process's handle on the database the configuration names."""
    from herder.db.session import Database
    return Database(database_url(conf), pool_size=conf.database.max_pool_size,
                    max_overflow=conf.database.max_overflow)


def database_url(conf: cfg.ConfigOpts) -> str:
    return conf.database.connection or f"sqlite:///{os.path.join(conf.state_dir, 'herder.sqlite')}"


def instances_root(conf: cfg.ConfigOpts) -> str:
    return conf.instances_path or os.path.join(conf.state_dir, "hosts")


def host_instances_dir(conf: cfg.ConfigOpts, host: str) -> str:
    """Where compute host `host` keeps its guests: `[compute] instances_dir` when set (and
    then possibly shared with other hosts), else a directory of its own."""
    return conf.compute.instances_dir or os.path.join(instances_root(conf), host)


def list_opts():
    """For oslo-config-generator."""
    return [(None, _default_opts), ("api", _api_opts), ("compute", _compute_opts),
            ("libvirt", _libvirt_opts), ("conductor", _conductor_opts), ("scheduler", _scheduler_opts),
            ("filter_scheduler", _filter_scheduler_opts),
            ("quota", _quota_opts), ("database", _database_opts), ("messaging", _messaging_opts),
            ("workflow", _workflow_opts), ("transfer", _transfer_opts),
            ("image", _image_opts), ("fault_injection", _fault_opts)]
