"""Request body validation with Nova's messages, against herder's own action schemas."""
import pytest

from herder.api.errors import ApiError
from herder.api.schemas import servers as schemas
from herder.api.validation import validate


def refusal(schema: dict, body) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validate(schema, body)
    assert caught.value.code == 400
    return caught.value


@pytest.mark.parametrize("body", [{"migrate": None}, {"migrate": {}}, {"migrate": {"host": None}},
                                  {"migrate": {"host": "compute2"}}])
def test_migrate_bodies_that_real_clients_send_are_valid(body):
    validate(schemas.MIGRATE_V256, body)


def test_bad_host_names_the_field_its_value_and_the_reason():
    assert refusal(schemas.MIGRATE_V256, {"migrate": {"host": "bad host!"}}).message == (
        "Invalid input for field/attribute host. Value: bad host!. "
        "'bad host!' does not match '^[a-zA-Z0-9-._]*$'")


def test_too_long_host_is_refused():
    message = refusal(schemas.MIGRATE_V256, {"migrate": {"host": "h" * 256}}).message
    assert message.startswith(f"Invalid input for field/attribute host. Value: {'h' * 256}. ")
    assert message.endswith("is too long")


def test_missing_required_field_names_the_enclosing_object():
    assert refusal(schemas.RESIZE, {"resize": {}}).message == (
        "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required property")


def test_unexpected_key_inside_an_action_is_refused():
    assert refusal(schemas.RESIZE, {"resize": {"flavorRef": "2", "flavor": "x"}}).message == (
        "Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'flavor': 'x'}. "
        "Additional properties are not allowed ('flavor' was unexpected)")


def test_enum_violation_shows_the_value():
    assert refusal(schemas.RESIZE, {"resize": {"flavorRef": "2",
                                               "OS-DCF:diskConfig": "SOMETIMES"}}).message == (
        "Invalid input for field/attribute OS-DCF:diskConfig. Value: SOMETIMES. "
        "'SOMETIMES' is not one of ['AUTO', 'MANUAL']")


def test_wrong_type_names_the_field():
    assert refusal(schemas.RESIZE, {"resize": {"flavorRef": True}}).message.startswith(
        "Invalid input for field/attribute flavorRef. Value: True. ")


def test_unexpected_top_level_key_gives_the_bare_reason():
    assert refusal(schemas.MIGRATE_V256, {"migrate": None, "extra": 1}).message == \
        "Additional properties are not allowed ('extra' was unexpected)"


def test_top_level_error_gives_the_bare_reason_as_nova_does():
    assert refusal(schemas.RESIZE, {}).message == "'resize' is a required property"
