"""The move workflow with every service in a process of its own, on RabbitMQ."""
from collections import Counter

from sqlalchemy import select

from herder import states
from herder.db.models import Workflow, WorkflowStep
from tests.functional.observe import (NotificationListener, assert_consistent, create_server,
                                      instance_record, migration_of, wait_for_status,
                                      wait_until)
from tests.integration.deployment import Deployment
from tests.functional.openstack_cli import openstack_cli as openstack, show, wait_status


def test_migrate_confirm_and_resize_revert_across_processes(deployment):
    admin = deployment.connect()
    server = create_server(admin)
    source = instance_record(deployment, server.id).host

    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    moved = instance_record(deployment, server.id)
    assert moved.host != source and moved.vm_state == states.RESIZED
    assert migration_of(deployment, server.id).status == states.MIGRATION_FINISHED
    assert_consistent(deployment)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    assert_consistent(deployment)

    admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    record = instance_record(deployment, server.id)
    assert record.host == moved.host and record.flavor["name"] == "m1.tiny"
    assert_consistent(deployment)


def test_compute_hosts_run_without_database_credentials(deployment):
    assert "[database]" not in deployment.compute_conf.read_text()
    assert "[database]" in deployment.control_conf.read_text()
    services = deployment.connect().compute.services()
    up = {(s.binary, s.host) for s in services if s.state == "up"}
    assert {("nova-compute", host) for host in deployment.hosts} <= up


def test_the_readme_walkthrough_migrates_a_server_with_the_openstack_cli(deployment):
    """README "Running as separate processes": `herder api` writes clouds.yaml, and the
    unmodified CLI migrates and confirms through the five kinds of process."""
    served = {"clouds": str(deployment.root / "state" / "clouds.yaml")}
    openstack(served, "server", "create", "--flavor", "m1.tiny", "--image", "herder-guest",
              "--wait", "vm1")
    source = show(served, "vm1")["OS-EXT-SRV-ATTR:host"]
    openstack(served, "server", "migrate", "--wait", "vm1")
    wait_status(served, "vm1", "VERIFY_RESIZE")
    openstack(served, "server", "migration", "confirm", "vm1")
    moved = wait_status(served, "vm1", "ACTIVE")
    assert moved["OS-EXT-SRV-ATTR:host"] not in (source, None)
    assert_consistent(deployment)


def test_notifications_of_every_service_reach_a_listener_on_rabbitmq(deployment):
    bus = deployment.bus()
    listener = NotificationListener(bus)
    try:
        admin = deployment.connect()
        server = create_server(admin)
        admin.compute.migrate_server(server)
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
        wait_until(lambda: "instance.resize_finish.end" in listener.event_types(server.id),
                   timeout=10, message="the destination's resize_finish.end")
        publishers = {n["publisher_id"].split(":")[0] for n in listener.received}
    finally:
        listener.stop()
        bus.close()
    seen = listener.event_types(server.id)
    for event in ("instance.resize_prep.start", "instance.resize.start", "instance.resize.end",
                  "instance.resize_finish.start", "instance.resize_finish.end"):
        assert event in seen
    assert {"herder-compute", "herder-scheduler"} <= publishers


def test_two_conductors_and_two_schedulers_share_the_work_and_run_each_step_once(
        rabbitmq, tmp_path):
    deployment = Deployment(tmp_path, conductors=2, schedulers=2)
    try:
        deployment.start_all()
        admin = deployment.connect()
        servers = [create_server(admin, name=f"vm{i}") for i in range(8)]
        for server in servers:
            admin.compute.migrate_server(server)
        for server in servers:
            wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=60)
        assert_consistent(deployment)
        with deployment.db.transaction() as session:
            workflows = list(session.scalars(select(Workflow).where(Workflow.kind == "migrate")))
            steps = list(session.scalars(select(WorkflowStep)))
        assert len(workflows) == len(servers)
        started = Counter((step.workflow_uuid, step.position) for step in steps)
        assert max(started.values()) == 1           # no step of any move ran twice
        owners = {workflow.owner.split(":")[0] for workflow in workflows}
        assert owners == set(deployment.conductors)  # both conductors took moves
        assert all("Selected host" in deployment.log(name) for name in deployment.schedulers)
    finally:
        deployment.close()
