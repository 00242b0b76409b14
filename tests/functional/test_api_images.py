"""The Image API v2 as glance serves it, over real HTTP: openstacksdk and raw requests against an
in-process cloud, and the unmodified `openstack` CLI against `herder serve`.

Create (queued) -> upload (streamed, hashed, active) -> list/show/download -> delete, glance's
errors and who may do what, the size limit, chunked bodies, and the signed download URLs that
compute hosts use without a token.
"""
import hashlib
import os
import struct
import subprocess
import threading
import time
import tracemalloc
import uuid

import pytest
import requests

from herder import catalogue, image_urls
from tests.conftest import make_cloud
from tests.functional.observe import wait_until
from tests.functional.openstack_cli import OPENSTACK, cli_json, openstack_cli, \
    serve_three_hosts, server_with_status

MEMBER = "demo:demo:member,reader"
OTHER = "eve:other:member,reader"
OCTET = {"Content-Type": "application/octet-stream"}
MIB = 1024 * 1024


def qcow2_bytes(virtual_size: int, payload: int) -> bytes:
    """A qcow2 header (version 3, no backing file) naming `virtual_size`, then `payload`
    random bytes: enough qcow2 for the store to read its virtual size."""
    header = struct.pack(">4sIQIIQ", b"QFI\xfb", 3, 0, 0, 16, virtual_size)
    return header + bytes(512 - len(header)) + os.urandom(payload)


def call(cloud, method: str, path: str, token: str | None, **kwargs) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.request(method, f"{cloud.endpoint}{path}", headers=headers, timeout=120,
                            **kwargs)


def create(cloud, token: str = MEMBER, **body) -> dict:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    resp = call(cloud, "POST", "/image/v2/images", token, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def upload(cloud, image_id: str, data, token: str = MEMBER, **kwargs) -> requests.Response:
    return call(cloud, "PUT", f"/image/v2/images/{image_id}/file", token, data=data,
                headers={**OCTET, **kwargs.pop("headers", {})}, **kwargs)


def show(cloud, image_id: str, token: str = MEMBER) -> dict:
    resp = call(cloud, "GET", f"/v2/images/{image_id}", token)
    assert resp.status_code == 200, resp.text
    return resp.json()


def assert_glance_error(resp: requests.Response, code: int, message: str) -> None:
    """glance's (webob's) JSON error body, with a message that starts so."""
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert set(body) == {"code", "title", "message"}, body
    assert body["code"] == f"{code} {body['title']}"
    assert body["message"].startswith(message), body["message"]


def store_files(cloud) -> list[str]:
    return sorted(os.listdir(os.path.join(cloud.conf.state_dir, "images")))


# -- the whole life of an image ---------------------------------------------------------------

def test_sdk_creates_uploads_lists_shows_downloads_and_deletes_an_image(cloud, demo, tmp_path):
    data = qcow2_bytes(virtual_size=3 * 1024 ** 3, payload=5 * MIB)
    path = tmp_path / "guest.qcow2"
    path.write_bytes(data)
    image = demo.create_image("uploaded", filename=str(path), disk_format="qcow2",
                              container_format="bare", wait=True)
    shown = demo.image.get_image(image.id)
    assert (shown.status, shown.size, shown.virtual_size) == ("active", len(data), 3 * 1024 ** 3)
    assert shown.checksum == hashlib.md5(data).hexdigest()
    assert (shown.hash_algo, shown.hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert (shown.owner, shown.visibility) == ("demo", "shared")
    raw = show(cloud, image.id)
    assert raw["file"] == f"/v2/images/{image.id}/file" and raw["os_hidden"] is False
    assert raw["owner_specified.openstack.md5"] == ""   # what the sdk sends, kept as given

    assert image.id in [i.id for i in demo.image.images()]
    assert demo.image.find_image("uploaded").id == image.id
    proxied = demo.compute.get(f"/images/{image.id}").json()["image"]
    assert (proxied["status"], proxied["OS-EXT-IMG-SIZE:size"]) == ("ACTIVE", len(data))
    assert demo.image.download_image(image).content == data

    demo.image.delete_image(image)
    assert image.id not in store_files(cloud)
    assert_glance_error(call(cloud, "GET", f"/v2/images/{image.id}", MEMBER), 404,
                        f"No image found with ID {image.id}")


def test_a_server_boots_only_from_an_active_image(cloud, demo):
    queued = create(cloud, name="not-yet")
    assert queued["status"] == "queued" and queued["size"] is None
    assert call(cloud, "GET", f"/v2/images/{queued['id']}/file", MEMBER).status_code == 204
    flavor = demo.compute.find_flavor("m1.tiny")
    resp = demo.compute.post("/servers", json={"server": {
        "name": "early", "flavorRef": flavor.id, "imageRef": queued["id"]}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == f"Image {queued['id']} is not active."
    proxied = demo.compute.get(f"/images/{queued['id']}").json()["image"]
    assert (proxied["status"], proxied["progress"]) == ("SAVING", 25)


def test_data_is_uploaded_once(cloud):
    image = create(cloud)
    assert upload(cloud, image["id"], b"first").status_code == 204
    assert_glance_error(upload(cloud, image["id"], b"second"), 409,
                        "Image status transition from active to saving is not allowed")
    assert call(cloud, "GET", f"/v2/images/{image['id']}/file", MEMBER).content == b"first"


def test_an_upload_in_progress_holds_the_image_until_a_delete_ends_it(cloud):
    image = create(cloud)
    sent_some, go_on = threading.Event(), threading.Event()

    def slow_body():
        yield b"x" * 1000
        sent_some.set()
        go_on.wait(30)
        yield b"y" * 1000
    answers = []
    uploader = threading.Thread(target=lambda: answers.append(
        upload(cloud, image["id"], slow_body())))
    uploader.start()
    try:
        assert sent_some.wait(30)
        wait_until(lambda: show(cloud, image["id"])["status"] == "saving",
                   message="the upload to start")
        assert_glance_error(upload(cloud, image["id"], b"z"), 409,
                            "Image status transition from saving to saving is not allowed")
        assert call(cloud, "DELETE", f"/v2/images/{image['id']}", MEMBER).status_code == 204
    finally:
        go_on.set()
        uploader.join(30)
    assert_glance_error(answers[0], 410,
                        f"Image {image['id']} could not be found after upload.")
    assert store_files(cloud) == [catalogue.IMAGE_ID]


def test_chunked_uploads_and_ranged_downloads(cloud):
    image = create(cloud)
    pieces = [os.urandom(100_000) for _ in range(7)]
    data = b"".join(pieces)
    # a generator has no length: requests sends it with Transfer-Encoding: chunked
    resp = upload(cloud, image["id"], iter(pieces))
    assert resp.status_code == 204, resp.text
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    shown = show(cloud, image["id"])
    assert (shown["size"], shown["virtual_size"]) == (len(data), len(data))
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()

    path = f"/v2/images/{image['id']}/file"
    whole = call(cloud, "GET", path, MEMBER)
    assert (whole.status_code, whole.headers["Content-Type"]) == (200, "application/octet-stream")
    assert whole.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    assert int(whole.headers["Content-Length"]) == len(data) and whole.content == data
    part = call(cloud, "GET", path, MEMBER, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.headers["Content-Range"], part.content) == \
        (206, f"bytes 10-19/{len(data)}", data[10:20])
    tail = call(cloud, "GET", path, MEMBER, headers={"Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, data[-5:])
    past = call(cloud, "GET", path, MEMBER, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"


def test_an_upload_over_the_limit_is_413_and_leaves_the_image_queued(tmp_path):
    cloud = make_cloud(tmp_path, hosts=1, image__max_image_size_mb=1)
    try:
        image = create(cloud)
        too_big = os.urandom(MIB + 1)
        # declared: refused before any of it is stored
        assert_glance_error(upload(cloud, image["id"], too_big), 413,
                            "The incoming image is too large")
        # chunked: found out while streaming
        resp = upload(cloud, image["id"], iter([too_big[:MIB // 2], too_big[MIB // 2:]]))
        assert_glance_error(resp, 413, "The incoming image is too large")
        shown = show(cloud, image["id"])
        assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
        assert store_files(cloud) == [catalogue.IMAGE_ID]   # no file, no partial file
        # and it still takes data that fits
        assert upload(cloud, image["id"], too_big[:MIB]).status_code == 204
        assert show(cloud, image["id"])["status"] == "active"
    finally:
        cloud.stop()


# -- who may do what --------------------------------------------------------------------------

def test_members_see_public_images_and_their_projects_own(cloud):
    mine = create(cloud, name="mine")
    public = create(cloud, cloud.conf.admin_token, name="for-all", visibility="public")
    private = create(cloud, cloud.conf.admin_token, name="admins", visibility="private")

    def listed(token, query=""):
        return {i["name"] for i in call(cloud, "GET", f"/v2/images{query}", token)
                .json()["images"]}
    assert listed(MEMBER) == {"mine", "for-all", catalogue.IMAGE_NAME}
    assert listed(OTHER) == {"for-all", catalogue.IMAGE_NAME}
    assert listed(cloud.conf.admin_token) == {"mine", "for-all", "admins", catalogue.IMAGE_NAME}
    assert listed(MEMBER, "?visibility=public") == {"for-all", catalogue.IMAGE_NAME}
    assert listed(MEMBER, "?name=mine") == {"mine"}
    # glance's `in:` operator, as the openstack CLI's server list sends it
    assert listed(MEMBER, f"?id=in:{mine['id']},{public['id']},{private['id']}") == \
        {"mine", "for-all"}
    comma = create(cloud, name="a,b")
    assert listed(MEMBER, '?name=in:"a,b",mine,nothing') == {"a,b", "mine"}
    assert listed(MEMBER, f"?id=in:{comma['id']}") == {"a,b"}
    assert show(cloud, public["id"], OTHER)["owner"] == "admin"
    for path in (f"/v2/images/{mine['id']}", f"/v2/images/{private['id']}"):
        assert_glance_error(call(cloud, "GET", path, OTHER), 404, "No image found with ID")
    assert_glance_error(call(cloud, "GET", "/v2/images?visibility=everyone", MEMBER), 400,
                        "Invalid visibility value: everyone")


def test_only_the_owner_or_an_admin_changes_an_image(cloud):
    mine = create(cloud, name="mine")
    for method, path in (("DELETE", f"/v2/images/{mine['id']}"),
                         ("PUT", f"/v2/images/{mine['id']}/file"),
                         ("GET", f"/v2/images/{mine['id']}/file")):
        # another project does not see it at all
        resp = call(cloud, method, path, OTHER, data=b"x", headers=OCTET)
        assert_glance_error(resp, 404, f"No image found with ID {mine['id']}")
    # a public image someone else owns: seen, not deleted
    assert_glance_error(call(cloud, "DELETE", f"/v2/images/{catalogue.IMAGE_ID}", MEMBER), 403,
                        "You are not authorized to complete delete_image action.")
    assert_glance_error(upload(cloud, catalogue.IMAGE_ID, b"x"), 403,
                        "You are not authorized to complete upload_image action.")
    assert call(cloud, "GET", f"/v2/images/{catalogue.IMAGE_ID}/file", MEMBER).status_code == 200
    # publicizing is the admin's
    resp = call(cloud, "POST", "/v2/images", MEMBER, json={"name": "x", "visibility": "public"})
    assert_glance_error(resp, 403, "You are not authorized to complete publicize_image action.")
    resp = call(cloud, "POST", "/v2/images", MEMBER, json={"name": "x", "owner": "other"})
    assert_glance_error(resp, 403, "You are not permitted to create images owned by 'other'.")
    assert call(cloud, "DELETE", f"/v2/images/{mine['id']}", cloud.conf.admin_token) \
        .status_code == 204
    unknown = str(uuid.uuid4())
    for method, path in (("GET", f"/image/v2/images/{unknown}"),
                         ("DELETE", f"/v2/images/{unknown}"),
                         ("GET", f"/v2/images/{unknown}/file"),
                         ("PUT", f"/v2/images/{unknown}/file")):
        resp = call(cloud, method, path, MEMBER, data=b"x", headers=OCTET)
        assert_glance_error(resp, 404, f"No image found with ID {unknown}")


def test_protected_images_stay(cloud):
    image = create(cloud, protected=True)
    assert show(cloud, image["id"])["protected"] is True
    resp = call(cloud, "DELETE", f"/v2/images/{image['id']}", cloud.conf.admin_token)
    assert_glance_error(resp, 403, f"Image {image['id']} is protected and cannot be deleted.")


# -- what glance refuses ----------------------------------------------------------------------

REFUSED_CREATES = [   # (body, status, start of glance's message)
    ({"name": "x", "disk_format": "vmdk"}, 400,
     "Provided object does not match schema 'image': 'vmdk' is not one of"),
    ({"name": "x", "container_format": "ovf"}, 400, "Provided object does not match schema"),
    ({"name": "x", "min_ram": -1}, 400, "Provided object does not match schema"),
    ({"name": "x" * 256}, 400, "Provided object does not match schema"),
    ({"name": "x", "id": "not-a-uuid"}, 400, "Provided object does not match schema"),
    ({"name": "x", "visibility": "everyone"}, 400, "Provided object does not match schema"),
    ({"name": "x", "build": 7}, 400,
     "Provided object does not match schema 'image': 7 is not of type 'string'"),
    ({"name": "x", "status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"name": "x", "checksum": "abc"}, 403, "Attribute 'checksum' is read-only."),
    ({"name": "x", "location": "http://x"}, 403, "Attribute 'location' is reserved."),
    ({"name": "x", "os_glance_import": "x"}, 403, "Attribute 'os_glance_import' is reserved."),
    ({"name": "x", **{f"p{i}": "v" for i in range(129)}}, 413,
     "The limit has been exceeded on the number of allowed image properties."),
    ([], 400, "Provided object does not match schema 'image': [] is not of type 'object'"),
]


def test_create_is_checked_as_glance_checks_it(cloud):
    for body, code, message in REFUSED_CREATES:   # one cloud for all: each costs a second
        assert_glance_error(call(cloud, "POST", "/v2/images", MEMBER, json=body), code, message)
    assert call(cloud, "GET", "/v2/images", MEMBER).json()["images"] == \
        [show(cloud, catalogue.IMAGE_ID)]   # none of them made an image


def test_malformed_bodies_duplicates_and_unready_uploads(cloud):
    assert_glance_error(call(cloud, "POST", "/v2/images", MEMBER, data="{nope",
                             headers={"Content-Type": "application/json"}), 400,
                        "Malformed JSON in request body.")
    assert_glance_error(call(cloud, "POST", "/v2/images", MEMBER), 400,
                        "Body expected in request.")
    image = create(cloud, id=str(uuid.uuid4()))
    assert_glance_error(call(cloud, "POST", "/v2/images", MEMBER, json={"id": image["id"]}),
                        409, f"Image with identifier {image['id']} already exists!")
    assert_glance_error(upload(cloud, image["id"], b"x",
                               headers={"Content-Type": "application/json"}), 415,
                        "The request media type application/json is not supported")
    bare = call(cloud, "POST", "/v2/images", MEMBER, json={"name": "no-formats"}).json()
    assert (bare["disk_format"], bare["container_format"]) == (None, None)
    assert_glance_error(upload(cloud, bare["id"], b"x"), 400,
                        "Properties disk_format, container_format must be set prior to "
                        "saving data.")
    # data that is not what its disk_format says is refused, and nothing stays
    qcow2 = create(cloud, disk_format="qcow2")
    assert_glance_error(upload(cloud, qcow2["id"], b"raw bytes"), 400,
                        "Image data is not in the qcow2 format")
    with_backing = bytearray(qcow2_bytes(MIB, 10))
    with_backing[8:16] = struct.pack(">Q", 512)
    assert_glance_error(upload(cloud, qcow2["id"], bytes(with_backing)), 400,
                        "A qcow2 image with a backing file is not accepted.")
    raw = create(cloud, disk_format="raw")
    assert_glance_error(upload(cloud, raw["id"], qcow2_bytes(MIB, 10)), 400,
                        "Image data is in the qcow2 format, not raw")
    assert show(cloud, qcow2["id"])["status"] == show(cloud, raw["id"])["status"] == "queued"
    assert store_files(cloud) == [catalogue.IMAGE_ID]


def test_lists_page_with_limit_and_marker(cloud, demo):
    made = [create(cloud, name=f"page{i}")["id"] for i in range(3)]
    first = call(cloud, "GET", "/v2/images?limit=2", MEMBER).json()
    assert len(first["images"]) == 2 and first["next"].startswith("/v2/images?")
    rest = call(cloud, "GET", first["next"], MEMBER).json()
    listed = [i["id"] for i in first["images"] + rest["images"]]
    assert "next" not in rest and sorted(listed) == sorted(made + [catalogue.IMAGE_ID])
    assert sorted(i.id for i in demo.image.images(limit=1)) == sorted(listed)   # sdk follows
    assert_glance_error(call(cloud, "GET", f"/v2/images?marker={uuid.uuid4()}", MEMBER), 400,
                        "Invalid marker.")
    assert_glance_error(call(cloud, "GET", "/v2/images?limit=x", MEMBER), 400,
                        "limit param must be an integer")


def test_the_image_schema_is_served(cloud):
    schema = call(cloud, "GET", "/v2/schemas/image", MEMBER).json()
    assert schema["name"] == "image" and "os_hash_value" in schema["properties"]
    assert call(cloud, "GET", "/image/v2/schemas/images", MEMBER).json()["name"] == "images"


# -- signed download URLs ---------------------------------------------------------------------

def test_a_signed_url_downloads_without_a_token_and_nothing_else_does(cloud):
    image = create(cloud)
    data = os.urandom(300_000)
    assert upload(cloud, image["id"], data).status_code == 204
    key = cloud.conf.image.url_signing_key
    url = image_urls.signed_file_url(cloud.endpoint, key, image["id"], 60)
    resp = requests.get(url, timeout=30)
    assert (resp.status_code, resp.content) == (200, data)
    assert resp.headers["Content-MD5"] == hashlib.md5(data).hexdigest()

    def token_less(target: str, method: str = "GET") -> int:
        return requests.request(method, target, timeout=30, data=b"x", headers=OCTET) \
            .status_code
    signature = url.rsplit("signature=", 1)[1]
    tampered = url[:-1] + ("0" if signature[-1] != "0" else "1")
    expired = image_urls.signed_file_url(cloud.endpoint, key, image["id"], -1)
    other_image = image_urls.signed_file_url(cloud.endpoint, key, catalogue.IMAGE_ID, 60)
    forged = image_urls.signed_file_url(cloud.endpoint, "not-the-key", image["id"], 60)
    query = url.split("?", 1)[1]
    assert token_less(tampered) == 401
    assert token_less(expired) == 401
    assert token_less(forged) == 401
    assert token_less(other_image.replace(catalogue.IMAGE_ID, image["id"])) == 401
    assert token_less(url.replace("/image/v2/", "/v2/")) == 401          # only the signed form
    assert token_less(f"{cloud.endpoint}/image/v2/images/{image['id']}?{query}") == 401
    assert token_less(f"{cloud.endpoint}/image/v2/images?{query}") == 401
    assert token_less(url, "PUT") == 401 and token_less(url, "DELETE") == 401
    assert token_less(url.split("?")[0]) == 401
    assert show(cloud, image["id"])["status"] == "active"   # the PUT changed nothing


# -- memory ------------------------------------------------------------------------------------

def test_a_200_mb_upload_streams_through_a_small_buffer(cloud):
    """The api holds a chunk at a time, never the body: tracemalloc's peak over the whole
    upload (client and in-process server) stays far below the 200 MB sent."""
    image = create(cloud)
    block, zeros = os.urandom(MIB), bytes(MIB)
    chunks = [block if i % 10 == 0 else zeros for i in range(200)]   # sparse-ish
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    for chunk in chunks:
        md5.update(chunk)
        sha512.update(chunk)
    tracemalloc.start()
    try:
        started = time.monotonic()
        resp = upload(cloud, image["id"], iter(chunks))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 204, resp.text
    assert peak < 32 * MIB, f"peak {peak / MIB:.1f} MiB for a 200 MiB upload"
    shown = show(cloud, image["id"])
    assert (shown["size"], shown["checksum"], shown["os_hash_value"]) == \
        (200 * MIB, md5.hexdigest(), sha512.hexdigest())
    print(f"200 MiB in {time.monotonic() - started:.1f} s, peak {peak / MIB:.1f} MiB")


# -- the openstack CLI ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_three_hosts(tmp_path_factory)


@pytest.mark.cli
def test_the_openstack_cli_creates_saves_boots_from_and_deletes_an_image(served, tmp_path):
    data = qcow2_bytes(virtual_size=1024 ** 3, payload=5 * MIB)
    source = tmp_path / "cli.qcow2"
    source.write_bytes(data)
    created = cli_json(served, "image", "create", "--disk-format", "qcow2",
                       "--container-format", "bare", "--file", str(source), "cli-image")
    assert created["status"] == "active"
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    listed = cli_json(served, "image", "list")
    assert ("cli-image", "active") in [(i["Name"], i["Status"]) for i in listed]
    shown = cli_json(served, "image", "show", "cli-image")
    assert (shown["size"], shown["virtual_size"]) == (len(data), 1024 ** 3)
    # the CLI shows glance's hash among the properties, as it does for glance itself
    assert (shown["properties"]["os_hash_algo"], shown["properties"]["os_hash_value"]) == \
        ("sha512", hashlib.sha512(data).hexdigest())
    saved = tmp_path / "saved.qcow2"
    openstack_cli(served, "image", "save", "--file", str(saved), "cli-image")
    assert saved.read_bytes() == data

    server = cli_json(served, "server", "create", "--flavor", "m1.tiny", "--image",
                      "cli-image", "from-upload")
    assert server_with_status(served, server["id"], "ACTIVE").image["id"] == created["id"]
    # the list names each server's image (it looks them up with glance's `id=in:` filter)
    assert [s["Image"] for s in cli_json(served, "server", "list")
            if s["ID"] == server["id"]] == ["cli-image"]
    openstack_cli(served, "server", "delete", "--wait", "from-upload")

    openstack_cli(served, "image", "delete", "cli-image")
    assert "cli-image" not in [i["Name"] for i in cli_json(served, "image", "list")]
    store = os.path.join(os.path.dirname(served["clouds"]), "images")
    assert created["id"] not in os.listdir(store)


@pytest.mark.cli
def test_the_openstack_cli_uploads_from_a_pipe_as_a_chunked_body(served):
    """Data on stdin has no length: the CLI sends it with Transfer-Encoding: chunked."""
    data = os.urandom(2 * MIB)
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": served["clouds"], "no_proxy": "127.0.0.1"}
    for name in ("OS_CLOUD", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        env.pop(name, None)
    result = subprocess.run(
        [OPENSTACK, "--os-cloud", "herder-demo", "image", "create", "--disk-format", "raw",
         "--container-format", "bare", "-f", "json", "piped"],
        input=data, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    sdk = served["sdk"]
    image = sdk.image.find_image("piped", ignore_missing=False)
    assert (image.status, image.size, image.owner) == ("active", len(data), "demo")
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    sdk.image.delete_image(image)
