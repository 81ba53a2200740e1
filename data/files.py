"""Atomic, write-only-if-changed file output.

TFX ExampleGen fingerprints its input files by path, size and modification
time, so rewriting a file with identical content needlessly invalidates the
pipeline's cache. Writes go to a temporary file in the target directory and
are moved into place with `os.replace`, so a crash never leaves a half-written
file under the final name.
"""

import os
import tempfile
import uuid
from typing import Optional


class OutputError(OSError):
  """An output file or folder cannot be written where it was asked for.

  An OSError, so callers that already catch OSError keep working; its own
  class lets a command tell "cannot write the output" apart from "cannot
  read the input", and its message names the path and the reason.
  """


def check_output_file(path: str) -> None:
  """Raises OutputError unless a file can be written at `path`.

  Called before the slow work (reading a large export, generating rows), so
  a mistyped destination fails in a second, not after minutes. Nothing is
  created: missing parent folders are only checked to be creatable.
  """
  if not path:
    raise OutputError('the output file name is empty')
  if os.path.isdir(path):
    raise OutputError('cannot write %s: it is a directory, not a file' % path)
  problem = _creation_problem(os.path.dirname(os.path.abspath(path)))
  if problem:
    raise OutputError('cannot write %s: %s' % (path, problem))


def check_output_dir(path: str) -> None:
  """Raises OutputError unless files can be written in folder `path`.

  Like `check_output_file`, nothing is created.
  """
  if not path:
    raise OutputError('the output folder name is empty')
  if os.path.exists(path) and not os.path.isdir(path):
    raise OutputError('cannot write in %s: it is a file, not a directory' %
                      path)
  problem = _creation_problem(os.path.abspath(path))
  if problem:
    raise OutputError('cannot write in %s: %s' % (path, problem))


def write_bytes_if_changed(path: str, content: bytes) -> bool:
  """Writes `content` to `path` unless the file already holds exactly that.

  Creates the parent directory if needed.

  Args:
    path: Destination file.
    content: The complete new content.

  Returns:
    True if the file was (re)written, False if it already had this content
    (the file, including its modification time, is left untouched).

  Raises:
    OutputError: The file or its folder cannot be written; a file already
      at `path` is then left as it was.
  """
  if _has_content(path, content):
    return False
  directory = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    raise OutputError('cannot write %s: %s' % (
        path, _creation_problem(directory) or _reason(e))) from e
  # Same directory as the target, so os.replace is an atomic rename.
  tmp_path = os.path.join(
      directory, '.%s.%s.tmp' % (os.path.basename(path), uuid.uuid4().hex))
  try:
    _write_then_rename(tmp_path, path, content)
  except OSError as e:
    raise OutputError('cannot write %s: %s' % (path, _reason(e))) from e
  return True


def _write_then_rename(tmp_path: str, path: str, content: bytes) -> None:
  """Writes `tmp_path` in full, then renames it to `path`.

  Until the rename, `path` keeps its old content; on any failure (disk full,
  interrupt) the temporary file is removed.
  """
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


def _creation_problem(directory: str) -> Optional[str]:
  """Why files cannot be created in `directory` (made if missing), or None.

  Walks up to the nearest folder that exists and creates (then removes) a
  temporary file in it: permission bits alone mislead, since root ignores
  them yet cannot write on a read-only mount or in /sys.
  """
  existing = directory
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    return '%s is a file, not a directory' % existing
  try:
    with tempfile.NamedTemporaryFile(dir=existing, prefix='.write-check-'):
      pass
  except OSError as e:
    return 'cannot create files in %s (%s)' % (existing, _reason(e))
  return None


def _reason(error: OSError) -> str:
  """The OS's reason without errno and path, e.g. 'Permission denied'."""
  return error.strerror or str(error)


def _has_content(path: str, content: bytes) -> bool:
  """True if `path` is a regular file whose bytes equal `content`."""
  try:
    if os.path.getsize(path) != len(content):
      return False
    with open(path, 'rb') as f:
      return f.read() == content
  except OSError:
    return False
