"""Atomic, write-only-if-changed file output.

TFX ExampleGen fingerprints its input files by path, size and modification
time, so rewriting a file with identical content needlessly invalidates the
pipeline's cache. Writes go to a temporary file in the target directory and
are moved into place with `os.replace`, so a crash never leaves a half-written
file under the final name.
"""

import os
import uuid


def write_bytes_if_changed(path: str, content: bytes) -> bool:
  """Writes `content` to `path` unless the file already holds exactly that.

  Creates the parent directory if needed.

  Args:
    path: Destination file.
    content: The complete new content.

  Returns:
    True if the file was (re)written, False if it already had this content
    (the file, including its modification time, is left untouched).
  """
  if _has_content(path, content):
    return False
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  # Same directory as the target, so os.replace is an atomic rename.
  tmp_path = os.path.join(
      directory, '.%s.%s.tmp' % (os.path.basename(path), uuid.uuid4().hex))
  try:
    with open(tmp_path, 'xb') as f:
      f.write(content)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise
  return True


def _has_content(path: str, content: bytes) -> bool:
  """True if `path` is a regular file whose bytes equal `content`."""
  try:
    if os.path.getsize(path) != len(content):
      return False
    with open(path, 'rb') as f:
      return f.read() == content
  except OSError:
    return False
