"""How exceptions travel across the bus: by class name, re-raised on the caller's side."""
import traceback

from herder import exception

_KNOWN = {name: cls for name, cls in vars(exception).items()
          if isinstance(cls, type) and issubclass(cls, exception.HerderError)}


def encode_failure(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}


def decode_failure(failure: dict) -> Exception:
    cls = _KNOWN.get(failure["type"])
    if cls is None:
        error = exception.RemoteError(exc_type=failure["type"], value=failure["message"])
    else:
        error = cls(failure["message"])
    error.remote_traceback = failure.get("traceback")
    return error
