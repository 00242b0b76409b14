"""What running tempest against herder showed Nova does, and herder now does too
(docs/tempest.md): requests tempest sends that a hand-written client might not."""
from herder import states
from herder.db import instances
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      wait_until)


def test_flavor_created_with_a_numeric_id_keeps_it_as_text(cloud, admin):
    # tempest's create_flavor sends "id" as a JSON integer
    resp = admin.compute.post("/flavors", json={"flavor": {
        "id": 4242, "name": "numbered", "ram": 256, "vcpus": 1, "disk": 1}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["flavor"]["id"] == "4242"
    assert admin.compute.get("/flavors/4242").json()["flavor"]["name"] == "numbered"


def test_deleting_a_server_that_is_being_deleted_is_accepted_and_changes_nothing(cloud, demo):
    # tempest deletes a server in a test's cleanup and again in its class's cleanup
    server = create_server(demo)
    host = instance_record(cloud, server.id).host
    hold = cloud.computes[host].driver.fault_points.hold("destroy")
    assert demo.compute.delete(f"/servers/{server.id}").status_code == 204
    hold.wait_reached()
    try:
        assert instance_record(cloud, server.id).task_state == "deleting"
        resp = demo.compute.delete(f"/servers/{server.id}")
        assert resp.status_code == 204, resp.text
    finally:
        hold.release()
    wait_until(lambda: demo.compute.get(f"/servers/{server.id}").status_code == 404,
               message="the server to be gone")
    assert demo.compute.delete(f"/servers/{server.id}").status_code == 404
    assert_consistent(cloud)


def test_a_delete_racing_another_state_change_still_deletes(cloud, demo, monkeypatch):
    # tempest deletes a server while it builds; a build step that lands between the API's read
    # and its write must not turn the delete into a 409, as it never does in Nova
    server = create_server(demo)
    real_update_in = instances.update_in
    raced = []

    def another_change_lands_first(session, uuid, expected=None, **values):
        # the API writes `deleting` inside its own transaction (with the recorded request);
        # the other change commits in a transaction of its own just before that write
        if values.get("task_state") == states.DELETING and not raced:
            raced.append(uuid)
            instances.update(cloud.db, uuid, {"task_state": None},
                             task_state=states.POWERING_OFF)
        return real_update_in(session, uuid, expected, **values)

    monkeypatch.setattr(instances, "update_in", another_change_lands_first)
    resp = demo.compute.delete(f"/servers/{server.id}")
    assert resp.status_code == 204, resp.text
    assert raced == [server.id]
    wait_until(lambda: demo.compute.get(f"/servers/{server.id}").status_code == 404,
               message="the server to be gone")
    assert_consistent(cloud)


def test_is_public_filter_takes_every_boolean_spelling_nova_takes(cloud, admin):
    resp = admin.compute.post("/flavors", json={"flavor": {
        "id": "hidden", "name": "hidden", "ram": 256, "vcpus": 1, "disk": 1,
        "os-flavor-access:is_public": "f"}})
    assert resp.status_code == 200, resp.text

    def listed(spelling: str) -> set[str]:
        resp = admin.compute.get(f"/flavors?is_public={spelling}")
        assert resp.status_code == 200, resp.text
        return {flavor["id"] for flavor in resp.json()["flavors"]}

    for spelling in ("f", "false", "off", "n", "no", "0", "F", "False"):
        assert listed(spelling) == {"hidden"}, spelling
    for spelling in ("t", "true", "on", "y", "yes", "1", "TRUE"):
        assert "hidden" not in listed(spelling) and "1" in listed(spelling), spelling
    assert admin.compute.get("/flavors?is_public=maybe").status_code == 400


def test_server_create_answers_with_the_admin_password_asked_for(cloud, demo):
    image = demo.image.find_image("herder-guest")
    resp = demo.compute.post("/servers", json={"server": {
        "name": "with-password", "flavorRef": "1", "imageRef": image.id,
        "adminPass": "testpassword"}})
    assert resp.status_code == 202, resp.text
    assert resp.json()["server"]["adminPass"] == "testpassword"
    # without one, a generated one
    resp = demo.compute.post("/servers", json={"server": {
        "name": "without", "flavorRef": "1", "imageRef": image.id}})
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["server"]["adminPass"]) >= 8
