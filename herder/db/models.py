"""The database schema. Every change here needs an Alembic migration in db/alembic/versions."""
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, false)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# MySQL/MariaDB need these spelled out (migration 0002); SQLite and PostgreSQL already behave so.
# DATETIME drops fractional seconds without a precision, and every time herder writes keeps its
# microseconds: the API shows them (a migration's created_at, a server's launched_at, as Nova
# does) and orders by them (two migrations of one second, a fault against the next action);
# FLOAT is single precision, so a ratio of 0.9 would be stored as 0.8999999762.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Double = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


class Base(DeclarativeBase):
    pass


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True,
                                                        onupdate=datetime.utcnow)


class Flavor(Timestamps, Base):
    __tablename__ = "flavors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Double, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)


class FlavorProject(Base):
    __tablename__ = "flavor_projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavor_id: Mapped[int] = mapped_column(ForeignKey("flavors.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(255))
    __table_args__ = (UniqueConstraint("flavor_id", "project_id"),)


class Image(Timestamps, Base):
    """An image of the Image API v2 (glance's fields): queued when created, saving while its
    data streams in, active once stored (migration 0007 added the upload fields)."""
    __tablename__ = "images"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # glance lets all three be null at create; data can only be uploaded once both formats are set
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(36), default="active")
    disk_format: Mapped[str | None] = mapped_column(String(36), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(36), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)   # null until uploaded
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    visibility: Mapped[str] = mapped_column(String(36), default="public")
    protected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(64), nullable=True)          # md5
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), nullable=True)      # sha512
    os_hash_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    file_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    tags: Mapped[list | None] = mapped_column(JSON, nullable=True)


class Instance(Timestamps, Base):
    __tablename__ = "instances"
    # the order the list pages through, newest first (alembic 0018)
    __table_args__ = (Index("ix_instances_created_at_id", "created_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    # the guest's hostname: from the name at create, or as asked (2.90; an FQDN from 2.94)
    hostname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    image_ref: Mapped[str] = mapped_column(String(255), default="")
    flavor: Mapped[dict] = mapped_column(JSON)
    old_flavor: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    new_flavor: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    vm_state: Mapped[str] = mapped_column(String(255))
    task_state: Mapped[str | None] = mapped_column(String(255), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    launched_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    system_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    addresses: Mapped[dict] = mapped_column(JSON, default=dict)
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disk_config: Mapped[str] = mapped_column(String(16), default="MANUAL")
    config_drive: Mapped[str] = mapped_column(String(16), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class InstanceFault(Base):
    __tablename__ = "instance_faults"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    code: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(255))
    details: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)


class RequestSpec(Base):
    """What the scheduler needs to place a server again; never keeps one-off move hints."""
    __tablename__ = "request_specs"
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)


class Migration(Timestamps, Base):
    __tablename__ = "migrations"
    # the order the list pages through, newest first (alembic 0018)
    __table_args__ = (Index("ix_migrations_created_at_id", "created_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    source_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    old_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(255), index=True)
    migration_type: Mapped[str] = mapped_column(String(32))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disk_total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_processed_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_remaining_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # the disk copy as the source timed it (herder/db/disk_copies.py): the bytes copied or
    # sent in so many seconds, on an instances directory both hosts share or over the network
    disk_copy_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_copy_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    disk_copy_shared: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # when someone asked to abort the move (db/move_aborts.py); the workflow rolls it back
    abort_requested_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class InstanceAction(Base):
    __tablename__ = "instance_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(255))
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    request_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    start_time: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    __table_args__ = (Index("ix_instance_actions_instance_request", "instance_uuid", "request_id"),)


class InstanceActionEvent(Base):
    __tablename__ = "instance_actions_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("instance_actions.id", ondelete="CASCADE"),
                                           index=True)
    event: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    result: Mapped[str | None] = mapped_column(String(255), nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Service(Timestamps, Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    zone: Mapped[str] = mapped_column(String(255), default="internal")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_up: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("host", "binary"),)


class ComputeNode(Timestamps, Base):
    """A resource provider: one per compute host, with its inventory and a generation counter."""
    __tablename__ = "compute_nodes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255), unique=True)
    host_ip: Mapped[str] = mapped_column(String(64))
    hypervisor_type: Mapped[str] = mapped_column(String(64))      # as its driver reports it
    hypervisor_version: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    local_gb: Mapped[int] = mapped_column(Integer)
    cpu_allocation_ratio: Mapped[float] = mapped_column(Double, default=1.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(Double, default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(Double, default=1.0)
    reserved_host_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    # the id its host reads in its instances directory: hosts with one id share the directory
    # (herder/compute/shared_storage.py, directory_id); None: not reported
    instances_dir_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # how many moves the host takes part in at once, as its `[compute]
    # max_concurrent_migrations` says (db/move_slots.py); None: not reported
    max_concurrent_migrations: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Allocation(Base):
    """Resources a consumer (an instance or a migration) holds on one compute node."""
    __tablename__ = "allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer_uuid: Mapped[str] = mapped_column(String(36), index=True)
    node_uuid: Mapped[str] = mapped_column(ForeignKey("compute_nodes.uuid"), index=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("consumer_uuid", "node_uuid"),)


class Quota(Base):
    __tablename__ = "quotas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("project_id", "resource"),)


class ProjectQuotaLock(Base):
    """One row per project, locked FOR UPDATE while a quota check and the create it admits
    run, so that concurrent creates of one project cannot both pass (see db/quotas.py)."""
    __tablename__ = "project_quota_locks"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class MoveSlot(Base):
    """A move's place on one of its hosts (db/move_slots.py): `held` while the move works on
    the host, `waiting` in the queue until the host has room. Ids give the queue's order."""
    __tablename__ = "move_slots"
    __table_args__ = (UniqueConstraint("migration_uuid", "host"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    migration_uuid: Mapped[str] = mapped_column(String(36), index=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    queued_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)


class MoveQueueLock(Base):
    """One row, locked FOR UPDATE by whoever reads and changes the move slots, so that two
    conductors cannot both give a host its last free slot (db/move_slots.py)."""
    __tablename__ = "move_queue_lock"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)


class Workflow(Timestamps, Base):
    """A durable multi-step operation run by the conductor (a move, a confirm, a revert)."""
    __tablename__ = "workflows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    migration_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the conductor running it, for as long as it renews the lease (see journal.adopt)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class AcceptedRequest(Base):
    """A request the api accepted and has not yet seen a conductor take: written in the
    transaction that changes the server's state, removed in the one that opens the request's
    workflow. A cast lost on the way (the broker or a conductor died) leaves it here, and a
    conductor sends it again (see conductor/pending_requests.py)."""
    __tablename__ = "accepted_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    method: Mapped[str] = mapped_column(String(64))          # the conductor's RPC method
    arguments: Mapped[dict] = mapped_column(JSON, default=dict)
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    accepted_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    # when a conductor last sent it again (None: never), so that it is not sent every sweep
    resent_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    # until when the conductor that has taken it from its queue, and not yet started it, holds
    # it (None: none has said so): a held request is not lost, however long it waits
    held_until: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class WorkflowStep(Base):
    """The journal: one row per step, written before the step runs and updated after."""
    __tablename__ = "workflow_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_uuid: Mapped[str] = mapped_column(ForeignKey("workflows.uuid", ondelete="CASCADE"),
                                               index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ServerGroup(Timestamps, Base):
    """A set of servers placed by one policy: (soft-)affinity or (soft-)anti-affinity."""
    __tablename__ = "server_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(64))
    rules: Mapped[dict] = mapped_column(JSON, default=dict)


class ServerGroupMember(Base):
    """A server's membership of its (only) group; removed when the server is deleted."""
    __tablename__ = "server_group_members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_uuid: Mapped[str] = mapped_column(ForeignKey("server_groups.uuid", ondelete="CASCADE"),
                                            index=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)


class ServiceSecret(Base):
    """A secret the control services share through the database, made once by whichever needs
    it first (the image URL signing key when none is configured)."""
    __tablename__ = "service_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class ProjectConfirmPolicy(Timestamps, Base):
    """A project's confirm policy, set through herder's own API: how long its moves may wait in
    VERIFY_RESIZE and what happens then (herder/confirm_policy.py). A column left null leaves
    that setting to the cloud's option."""
    __tablename__ = "project_confirm_policies"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)


class HostDrain(Timestamps, Base):
    """A host drain or restore job (herder/conductor/host_drains.py): the servers of one host
    moved off it (`kind` drain), or the servers a drain moved brought back (`kind` restore),
    a few at a time. One conductor drives a job at a time (`owner`, while it renews
    `lease_until`), so a job outlives the conductor that started it."""
    __tablename__ = "host_drains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255), index=True)
    # the host while the job is unfinished, null after: a unique column, so that two jobs on
    # one host cannot both be unfinished, whichever api writes them
    active_host: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    max_per_source: Mapped[int] = mapped_column(Integer)
    max_per_destination: Mapped[int] = mapped_column(Integer)
    auto_confirm: Mapped[bool] = mapped_column(Boolean, default=False)
    # a restore: the drain whose servers it brings back
    drain_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class HostDrainServer(Base):
    """One server of a host drain or restore job, and what became of it."""
    __tablename__ = "host_drain_servers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    drain_uuid: Mapped[str] = mapped_column(ForeignKey("host_drains.uuid", ondelete="CASCADE"),
                                            index=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(16))
    source_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    migration_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # the id of the server's newest migration when the job asked for its move (0: it had
    # none): the job's move is the server's first migration after it (the workflow records
    # the migration after the api call returns)
    migrations_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # moves asked for: a move rolled back (a host or conductor failed mid-move) is tried again
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class HostDrainNotification(Base):
    """A versioned notification about a host drain or restore job, written in the transaction
    of the change it reports and sent afterwards by the conductor holding the job's lease
    (herder/drain_notifications.py): so a change that committed is reported even if the
    process that made it dies before it could send it."""
    __tablename__ = "host_drain_notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    drain_uuid: Mapped[str] = mapped_column(ForeignKey("host_drains.uuid", ondelete="CASCADE"),
                                            index=True)
    priority: Mapped[str] = mapped_column(String(8))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=datetime.utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True, index=True)
