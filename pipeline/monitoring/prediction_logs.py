"""Reads TF Serving PredictionLog records from TFRecord files, damage counted.

A request log is written while the server runs; a crash or a full disk can
leave a truncated last record, and a disk error a corrupt one. TensorFlow's
record reader stops the whole read at the first bad record; this one checks
each record's length and CRC32C itself (the TFRecord format), keeps every
record before the damage, counts what it skipped, and goes on with the next
file.
"""

import dataclasses
import glob
import os
import struct
from typing import List, Tuple

import google_crc32c
from tensorflow_serving.apis import prediction_log_pb2

_MASK_DELTA = 0xa282ead8


class NoLogsError(ValueError):
  """Nothing to read under --logs (a one-line error, exit 2)."""


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xffffffff


@dataclasses.dataclass
class ReadResult:
  """The records read, and what could not be."""
  logs: List[prediction_log_pb2.PredictionLog]
  files: List[str]
  damaged_files: List[str] = dataclasses.field(default_factory=list)
  unreadable_bytes: int = 0


def log_files(where: str) -> List[str]:
  """Files of a folder (recursively), or of a glob pattern, sorted."""
  if os.path.isdir(where):
    found = [os.path.join(root, name) for root, _, names in os.walk(where)
             for name in names]
  else:
    found = glob.glob(where)
  return sorted(path for path in found if os.path.isfile(path) and
                not os.path.basename(path).startswith('.'))


def records(path: str) -> Tuple[List[bytes], int]:
  """The intact records of one TFRecord file, and the bytes left unread."""
  with open(path, 'rb') as f:
    data = f.read()
  found, offset = [], 0
  while offset + 12 <= len(data):
    header = data[offset:offset + 8]
    (length,) = struct.unpack('<Q', header)
    (length_crc,) = struct.unpack('<I', data[offset + 8:offset + 12])
    end = offset + 12 + length + 4
    if _masked_crc(header) != length_crc or end > len(data):
      break
    payload = data[offset + 12:offset + 12 + length]
    (payload_crc,) = struct.unpack('<I', data[end - 4:end])
    if _masked_crc(payload) != payload_crc:
      break
    found.append(payload)
    offset = end
  return found, len(data) - offset


def read(where: str) -> ReadResult:
  """Every PredictionLog under `where` (a folder or a glob).

  Raises:
    NoLogsError: no file, or no readable record at all.
  """
  files = log_files(where)
  if not files:
    raise NoLogsError(f'no request log files under {where}')
  result = ReadResult([], files)
  for path in files:
    payloads, left = records(path)
    parsed = 0
    for payload in payloads:
      try:
        result.logs.append(prediction_log_pb2.PredictionLog.FromString(
            payload))
        parsed += 1
      except Exception:  # pylint: disable=broad-except
        left += len(payload)  # a record, but not a PredictionLog
    if left:
      result.damaged_files.append(path)
      result.unreadable_bytes += left
  if not result.logs:
    raise NoLogsError(f'no readable PredictionLog record in {len(files)} '
                      f'file(s) under {where}')
  return result
