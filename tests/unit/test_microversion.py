"""Compute API microversions: which one a request asks for, and Nova's refusals."""
import pytest

from herder.api import microversion
from herder.api.microversion import InvalidVersion, UnsupportedVersion, Version

# Falcon hands the middleware its headers upper-cased; from_headers reads them that way.
NEW, LEGACY = "OPENSTACK-API-VERSION", "X-OPENSTACK-NOVA-API-VERSION"
MAX = microversion.max_version()


def test_no_version_header_means_2_1():
    assert str(microversion.from_headers({})) == "2.1"


def test_openstack_api_version_header_names_the_compute_version():
    assert str(microversion.from_headers({NEW: "compute 2.56"})) == "2.56"


def test_service_type_in_the_header_is_case_insensitive():
    assert str(microversion.from_headers({NEW: "Compute 2.23"})) == "2.23"


def test_header_listing_several_services_picks_compute():
    assert str(microversion.from_headers({NEW: "volume 3.50, compute 2.10"})) == "2.10"


def test_legacy_nova_header_is_read_when_the_new_one_is_absent():
    assert str(microversion.from_headers({LEGACY: "2.30"})) == "2.30"


def test_new_header_wins_over_the_legacy_header():
    assert str(microversion.from_headers({NEW: "compute 2.60", LEGACY: "2.30"})) == "2.60"


def test_header_for_another_service_only_falls_back_to_the_legacy_header():
    assert str(microversion.from_headers({NEW: "volume 3.0", LEGACY: "2.12"})) == "2.12"
    assert str(microversion.from_headers({NEW: "volume 3.0"})) == "2.1"


@pytest.mark.parametrize("headers", [{NEW: "compute latest"}, {LEGACY: "latest"}])
def test_latest_means_the_maximum_microversion(headers):
    assert str(microversion.from_headers(headers)) == MAX


@pytest.mark.parametrize("value", ["2", "2.", "two.one", "2.1.1", "2.01", "02.1", "v2.1", "-2.1",
                                   "2.1a"])
def test_malformed_version_is_invalid(value):
    with pytest.raises(InvalidVersion):
        microversion.from_headers({NEW: f"compute {value}"})
    with pytest.raises(InvalidVersion):
        microversion.from_headers({LEGACY: value})


@pytest.mark.parametrize("value", ["2.0", "1.1", "3.0", "2.1000"])
def test_version_out_of_range_is_unsupported_with_novas_message(value):
    with pytest.raises(UnsupportedVersion) as caught:
        microversion.from_headers({NEW: f"compute {value}"})
    assert str(caught.value) == (f"Version {value} is not supported by the API. "
                                 f"Minimum is 2.1 and maximum is {MAX}.")


def test_the_range_bounds_themselves_are_supported():
    assert str(microversion.from_headers({NEW: "compute 2.1"})) == "2.1"
    assert str(microversion.from_headers({NEW: f"compute {MAX}"})) == MAX


def test_versions_compare_numerically_not_as_text():
    assert Version.parse("2.10") > Version.parse("2.9")
    assert Version.parse("2.9") < "2.10"
    assert Version.parse("2.56") == (2, 56)
    assert Version.parse("2.56").at_least("2.56")
    assert not Version.parse("2.55").at_least("2.56")
    assert Version.parse("2.100").at_least("2.96")
