"""A compute host's image cache: fetched over HTTP, checked against the image's hash, kept
only when it matches."""
import hashlib
import http.server
import os
import threading

import pytest

from herder import exception
from herder.virt.images import ImageCache

CONTENT = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture
def image_server():
    """An HTTP server on loopback answering GET /<name> with CONTENT; counts its requests."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/cut"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(CONTENT)))
                self.end_headers()
                self.wfile.write(CONTENT[:1000])   # then the connection closes
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for serve_forever to look at its flag: every poll_interval (0.5 s by
    # default, paid by each test's teardown)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def meta(url: str, **overrides) -> dict:
    return {"id": "img-1", "url": url, "size": len(CONTENT), "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(CONTENT).hexdigest(), **overrides}


def test_an_image_is_fetched_once_checked_and_cached(tmp_path, image_server):
    base, requests = image_server
    cache = ImageCache("compute1", str(tmp_path / "_base"))
    path = cache.fetch(meta(f"{base}/image?signature=secret"))
    with open(path, "rb") as f:
        assert f.read() == CONTENT
    assert cache.fetch(meta(f"{base}/image")) == path
    assert len(requests) == 1
    assert os.listdir(tmp_path / "_base") == [os.path.basename(path)]


def test_bytes_that_do_not_match_the_hash_are_refused_and_leave_nothing(tmp_path,
                                                                        image_server):
    base, _ = image_server
    cache = ImageCache("compute1", str(tmp_path / "_base"))
    with pytest.raises(exception.ImageFetchFailed, match="sha512 does not match"):
        cache.fetch(meta(f"{base}/image", os_hash_value="0" * 128))
    assert os.listdir(tmp_path / "_base") == []


def test_a_fetch_cut_short_is_a_clear_error_that_leaves_nothing(tmp_path, image_server):
    base, _ = image_server
    cache = ImageCache("compute1", str(tmp_path / "_base"))
    with pytest.raises(exception.ImageFetchFailed) as failure:
        cache.fetch(meta(f"{base}/cut?signature=secret"))
    assert "secret" not in str(failure.value)    # the signature is a credential
    assert os.listdir(tmp_path / "_base") == []


def test_an_image_without_a_url_or_server_cannot_be_fetched(tmp_path):
    cache = ImageCache("compute1", str(tmp_path / "_base"))
    with pytest.raises(exception.ImageFetchFailed, match="no URL"):
        cache.fetch(meta(None))
    with pytest.raises(exception.ImageFetchFailed, match="127.0.0.1:9"):
        cache.fetch(meta("http://127.0.0.1:9/image"))
