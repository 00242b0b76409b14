"""Every policy rule herder enforces is registered with a default and a description, and
oslo.policy's sample generator writes them all (issue 3, item 7)."""
import os
import subprocess
import sys

import pytest
import yaml
from oslo_policy import policy

from herder.api.policies import list_rules, make_enforcer
from herder.conf import build_conf

GENERATOR = os.path.join(os.path.dirname(sys.executable), "oslopolicy-sample-generator")


def test_every_rule_has_a_default_and_a_description():
    for rule in list_rules():
        assert rule.check_str, rule.name
        assert rule.description and len(rule.description) > 10, rule.name


def test_the_sample_generator_writes_every_rule_with_its_default(tmp_path):
    output = tmp_path / "policy.yaml"
    subprocess.run([GENERATOR, "--namespace", "herder", "--output-file", str(output)],
                   check=True, capture_output=True, timeout=60)
    text = output.read_text()
    # the sample comments every rule out: uncomment to read the defaults back
    sample = yaml.safe_load("\n".join(line[1:] for line in text.splitlines()
                                      if line.startswith('#"')))
    rules = {rule.name: rule.check_str for rule in list_rules()}
    assert sample == rules
    # descriptions are wrapped over comment lines: compare them as running text
    comments = " ".join(line.lstrip("# ") for line in text.splitlines()
                        if line.startswith("# "))
    for rule in list_rules():
        assert " ".join(rule.description.split()) in " ".join(comments.split()), rule.name


def test_checking_a_rule_nobody_registered_is_an_error_not_a_default(tmp_path):
    enforcer = make_enforcer(build_conf(state_dir=str(tmp_path)))
    with pytest.raises(policy.PolicyNotRegistered):
        enforcer.authorize("os_compute_api:not-a-rule", {}, {"roles": ["admin"]})


def test_a_request_brings_the_rules_up_to_date_once_for_all_its_checks(tmp_path):
    """oslo.policy looks for the policy file before every check; within a request herder
    looks once, when the request begins, and a file written meanwhile counts from the next
    request on (or at once outside requests)."""
    conf = build_conf(state_dir=str(tmp_path))
    policy_file = tmp_path / "policy.yaml"
    conf.set_override("policy_file", str(policy_file), group="oslo_policy")
    enforcer = make_enforcer(conf)
    rule, member = "os_compute_api:os-migrate-server:migrate", {"roles": ["member"]}
    looked_for = []
    find = enforcer._get_policy_path
    enforcer._get_policy_path = lambda path: looked_for.append(path) or find(path)

    enforcer.begin_request()
    searches_to_begin = len(looked_for)
    assert searches_to_begin >= 1
    policy_file.write_text(f'"{rule}": "role:member"\n')
    assert not enforcer.authorize(rule, {}, member)   # the request began before the file
    assert not enforcer.authorize(rule, {}, member)
    assert len(looked_for) == searches_to_begin
    enforcer.end_request()

    enforcer.begin_request()
    assert enforcer.authorize(rule, {}, member)
    enforcer.end_request()
    policy_file.unlink()
    assert not enforcer.authorize(rule, {}, member)   # outside a request: looked for at once
