"""Which place's setting a confirm policy takes (herder/confirm_policy.py)."""
from datetime import datetime, timedelta

from herder.confirm_policy import (ACTION_SPEC, WINDOW_SPEC, Layer, flavor_layer, resolve)

CLOUD = Layer("cloud", window=0, action="confirm")
NO_PROJECT = Layer("no project")


def test_each_setting_comes_from_the_first_place_that_gives_it():
    flavor = flavor_layer("m1.gpu", {WINDOW_SPEC: "600"})
    project = Layer("project demo", window=60, action="revert")
    policy = resolve(flavor, project, CLOUD)
    assert (policy.window.value, policy.window.source) == (600, "flavor m1.gpu (extra specs)")
    assert (policy.action.value, policy.action.source) == ("revert", "project demo")


def test_with_nothing_set_the_cloud_decides():
    policy = resolve(flavor_layer("m1.tiny", {}), NO_PROJECT, CLOUD)
    assert (policy.window.value, policy.action.value) == (0, "confirm")
    assert {policy.window.source, policy.action.source} == {"cloud"}


def test_a_flavors_window_0_is_a_setting_not_an_absence():
    policy = resolve(flavor_layer("m1.kept", {WINDOW_SPEC: "0"}),
                     Layer("project", window=1), Layer("cloud", window=1, action="confirm"))
    assert policy.window.value == 0
    assert not policy.expired(datetime(2000, 1, 1), datetime(2030, 1, 1))


def test_values_the_api_would_refuse_set_nothing():
    flavor = flavor_layer("odd", {WINDOW_SPEC: "-5", ACTION_SPEC: "explode"})
    assert (flavor.window, flavor.action) == (None, None)


def test_expired_once_the_window_has_passed():
    policy = resolve(flavor_layer("f", {WINDOW_SPEC: "10"}), NO_PROJECT, CLOUD)
    finished = datetime(2030, 1, 1, 12, 0, 0)
    assert not policy.expired(finished, finished + timedelta(seconds=9.9))
    assert policy.expired(finished, finished + timedelta(seconds=10))
