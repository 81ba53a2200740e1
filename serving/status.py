"""Errors carrying TensorFlow's canonical status codes.

TF Serving reports every failure as a `tensorflow::Status` and translates its
code to a gRPC status and an HTTP status. Raising `ServingError` with the same
code and message everywhere keeps both APIs consistent with it and with each
other.
"""

import re
from typing import Optional

import grpc

# tensorflow.error.Code, by name (values match grpc.StatusCode's).
OK = 'OK'
CANCELLED = 'CANCELLED'
UNKNOWN = 'UNKNOWN'
INVALID_ARGUMENT = 'INVALID_ARGUMENT'
DEADLINE_EXCEEDED = 'DEADLINE_EXCEEDED'
NOT_FOUND = 'NOT_FOUND'
ALREADY_EXISTS = 'ALREADY_EXISTS'
PERMISSION_DENIED = 'PERMISSION_DENIED'
RESOURCE_EXHAUSTED = 'RESOURCE_EXHAUSTED'
FAILED_PRECONDITION = 'FAILED_PRECONDITION'
ABORTED = 'ABORTED'
OUT_OF_RANGE = 'OUT_OF_RANGE'
UNIMPLEMENTED = 'UNIMPLEMENTED'
INTERNAL = 'INTERNAL'
UNAVAILABLE = 'UNAVAILABLE'
DATA_LOSS = 'DATA_LOSS'
UNAUTHENTICATED = 'UNAUTHENTICATED'

# The HTTP status TF Serving's REST server answers for each code
# (ToHTTPStatusCode in model_servers/http_server.cc).
_HTTP_STATUS = {
    OK: 200,
    CANCELLED: 499,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
    UNAUTHENTICATED: 401,
}


class ServingError(Exception):
  """A failed request or load, with a TensorFlow status code."""

  def __init__(self, code: str, message: str):
    super().__init__(message)
    self.code = code
    self.message = message

  @property
  def http_status(self) -> int:
    return _HTTP_STATUS.get(self.code, 500)

  @property
  def grpc_code(self) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, self.code, grpc.StatusCode.UNKNOWN)

  def to_string(self) -> str:
    """Like `Status::ToString()`: 'CODE: message'."""
    return f'{self.code}: {self.message}'

  def __repr__(self) -> str:
    return f'ServingError({self.code}, {self.message!r})'


def invalid_argument(message: str) -> ServingError:
  return ServingError(INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
  return ServingError(NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
  return ServingError(FAILED_PRECONDITION, message)


def internal(message: str) -> ServingError:
  return ServingError(INTERNAL, message)


def from_tf_exception(exc: Exception,
                      default: Optional[str] = None) -> ServingError:
  """Maps a TensorFlow `OpError` (or anything else) to a ServingError."""
  if isinstance(exc, ServingError):
    return exc
  code_value = getattr(exc, 'error_code', None)
  if code_value is not None:
    for status in grpc.StatusCode:
      if status.value[0] == code_value:
        message = getattr(exc, 'message', None) or str(exc)
        return ServingError(status.name, clean_tf_message(message))
  return ServingError(default or INTERNAL, f'{type(exc).__name__}: {exc}')


def clean_tf_message(message: str) -> str:
  """Drops the Python traceback TF 2 adds to graph errors ("Detected at
  node ... defined at") and the function name, leaving the op's message as
  a C++ session would report it."""
  if message.startswith('Graph execution error:'):
    parts = message.split('\n\n')
    kept = [p for p in parts[1:] if not p.startswith('Detected at node')
            and not p.lstrip().startswith('File "')]
    message = '\n\n'.join(kept) if kept else message
  return re.sub(r'\s*\[Op:__inference_[^\]]*\]\s*$', '', message).strip()
