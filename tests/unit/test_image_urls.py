"""Signed image download URLs (herder/image_urls.py) and the key the configuration gives them."""
from urllib.parse import parse_qs, urlsplit

import pytest

from herder import image_urls
from herder.conf import build_conf
from herder.db.session import Database

SECRET = "s3cret"
IMAGE = "5f0c6e7e-3c1a-4a53-9d8e-2b1f3f7d9a10"
NOW = 1_800_000_000


def _parts(url: str) -> tuple[str, str, dict]:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}", split.path, \
        {k: v[0] for k, v in parse_qs(split.query).items()}


def test_url_names_the_image_file_with_its_expiry_and_signature():
    url = image_urls.signed_file_url("http://127.0.0.1:8774/", SECRET, IMAGE, 300, now=NOW)
    base, path, query = _parts(url)
    assert (base, path) == ("http://127.0.0.1:8774", f"/image/v2/images/{IMAGE}/file")
    assert set(query) == {"expires", "signature"}
    assert query["expires"] == str(NOW + 300)
    assert image_urls.verify(SECRET, IMAGE, query["expires"], query["signature"], now=NOW)


def test_a_signature_holds_until_its_expiry_and_not_after():
    _, _, query = _parts(image_urls.signed_file_url("http://h", SECRET, IMAGE, 60, now=NOW))
    assert image_urls.verify(SECRET, IMAGE, query["expires"], query["signature"], now=NOW + 60)
    assert not image_urls.verify(SECRET, IMAGE, query["expires"], query["signature"],
                                 now=NOW + 61)


@pytest.mark.parametrize("change", ["image", "expires", "signature", "secret"])
def test_changing_anything_signed_makes_the_url_worthless(change):
    _, _, query = _parts(image_urls.signed_file_url("http://h", SECRET, IMAGE, 60, now=NOW))
    args = {"secret": SECRET, "image_id": IMAGE, "expires": query["expires"],
            "signature": query["signature"]}
    args[{"image": "image_id"}.get(change, change)] = {
        "image": IMAGE.replace("5", "6"), "expires": str(NOW + 3600),
        "signature": query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1"),
        "secret": "other"}[change]
    assert not image_urls.verify(**args, now=NOW)


@pytest.mark.parametrize("expires", [None, "", "soon", "1e12", "-5", " 1800000060", "9" * 40])
def test_an_expiry_that_is_not_plain_digits_is_refused(expires):
    signature = image_urls.sign(SECRET, IMAGE, NOW + 60)
    assert not image_urls.verify(SECRET, IMAGE, expires, signature, now=NOW)


def test_nothing_verifies_without_a_key_and_nothing_is_signed_without_one():
    signature = image_urls.sign(SECRET, IMAGE, NOW + 60)
    assert not image_urls.verify(None, IMAGE, str(NOW + 60), signature, now=NOW)
    assert not image_urls.verify("", IMAGE, str(NOW + 60), signature, now=NOW)
    assert not image_urls.verify(SECRET, IMAGE, str(NOW + 60), None, now=NOW)
    with pytest.raises(ValueError, match="url_signing_key"):
        image_urls.signed_file_url("http://h", None, IMAGE, 60)


def test_the_key_is_derived_from_the_admin_token_when_unset(tmp_path):
    one = build_conf(state_dir=str(tmp_path), admin_token="token-a")
    same = build_conf(state_dir=str(tmp_path), admin_token="token-a")
    other = build_conf(state_dir=str(tmp_path), admin_token="token-b")
    key = one.image.url_signing_key
    assert key and key == same.image.url_signing_key != other.image.url_signing_key
    assert "token-a" not in key   # derived, not the token itself
    assert build_conf(state_dir=str(tmp_path), image__url_signing_key="mine") \
        .image.url_signing_key == "mine"


def test_behind_keystone_the_default_admin_token_derives_no_key(tmp_path):
    conf = build_conf(state_dir=str(tmp_path), api__auth_strategy="keystone")
    assert conf.image.url_signing_key is None
    chosen = build_conf(state_dir=str(tmp_path), api__auth_strategy="keystone",
                        admin_token="not-the-default")
    assert chosen.image.url_signing_key


def test_without_a_derivable_key_the_services_share_one_made_in_the_database(tmp_path, db):
    behind_keystone = build_conf(state_dir=str(tmp_path), api__auth_strategy="keystone")
    made = image_urls.signing_key(behind_keystone, db)
    assert len(made) == 64
    another_process = Database(db.url)
    try:
        assert image_urls.signing_key(behind_keystone, another_process) == made
    finally:
        another_process.dispose()
    configured = build_conf(state_dir=str(tmp_path), api__auth_strategy="keystone",
                            image__url_signing_key="mine")
    assert image_urls.signing_key(configured, db) == "mine"


def test_the_api_url_follows_the_api_options_unless_set(tmp_path):
    assert build_conf(state_dir=str(tmp_path)).image.api_url == "http://127.0.0.1:8774"
    assert build_conf(state_dir=str(tmp_path), api__listen="0.0.0.0", api__port=9000) \
        .image.api_url == "http://127.0.0.1:9000"
    assert build_conf(state_dir=str(tmp_path), api__public_endpoint="https://cloud/compute/") \
        .image.api_url == "https://cloud/compute"
    assert build_conf(state_dir=str(tmp_path), image__api_url="http://api:1") \
        .image.api_url == "http://api:1"
