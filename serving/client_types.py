"""What every complaint client raises and returns, whatever its protocol.

A module of its own, below the protocol clients, the bulk scorer and the
CLI, so that all of them share one definition without importing each other,
and code that only catches ClientError loads neither grpcio nor TensorFlow.
"""

import dataclasses
from typing import Optional


class ClientError(Exception):
  """A failed call, with the server's message when there is one."""

  def __init__(self, message: str, code: Optional[str] = None):
    super().__init__(message)
    self.code = code


class UsageError(ClientError):
  """A bad command-line argument (exit 2, like argparse's own errors)."""


@dataclasses.dataclass(frozen=True)
class Prediction:
  disputed_probability: float
  model_version: Optional[int]
  model_name: str
  protocol: str
  latency_ms: float
