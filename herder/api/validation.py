"""Request body validation against JSON schemas, with Nova's error messages."""
import jsonschema

from herder.api.faults import BadRequest

_FORMAT_CHECKER = jsonschema.FormatChecker()


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
