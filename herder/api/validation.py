"""Request body validation against JSON schemas, with Nova's error messages."""
import base64

import jsonschema

from herder.api.errors import BadRequest

_FORMAT_CHECKER = jsonschema.FormatChecker()


@_FORMAT_CHECKER.checks("base64", raises=ValueError)   # binascii.Error is one too
def _is_base64(value) -> bool:
    if isinstance(value, str):
        base64.b64decode(value, validate=True)
    return True


def validate(schema: dict, body) -> None:
    """Raise BadRequest for the most relevant error: Nova names the innermost field, its value
    and the reason; an error about the body as a whole is the bare reason."""
    validator = jsonschema.Draft4Validator(schema, format_checker=_FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return
    if error.path:
        raise BadRequest(f"Invalid input for field/attribute {list(error.path)[-1]}. "
                         f"Value: {error.instance}. {error.message}")
    raise BadRequest(error.message)
