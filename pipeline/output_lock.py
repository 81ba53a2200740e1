"""One writer per `--output` folder: the lock that `run`, `loop`, `monitor`
and `feedback` hold while they write into it.

Why: two runs into one output (an overlapping schedule, a retry started
while the first attempt still runs) both train, both push into one version
directory, and each one's summary may describe the other's run. A second
writer is therefore refused before it writes anything, with one line that
names the holder.

How: an exclusive `flock` on `<output>/.lock`. The kernel releases it when
the holding process ends, however it ends (`kill -9` included), so a
crashed run never leaves the folder locked: the next run takes the lock and
resumes from ML Metadata's cache as before. The lock belongs to the folder,
also when ML Metadata lives in MySQL (the pushed models, spans and reports
are in the folder either way). Readers (`runs`, `lineage`, `compare`) take
no lock. Within one process the lock is re-entrant (the loop holds it and
runs the pipeline in-process), so it is held once per process, not per
call. POSIX only: `fcntl` has no Windows equivalent, and the project runs on
Linux (and in containers) only.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import threading
from typing import Dict, Iterator, Optional, Tuple

LOCK_FILE = '.lock'

_held: Dict[str, Tuple[int, int]] = {}  # real path -> (fd, depth)
_held_guard = threading.Lock()


class OutputLockError(RuntimeError):
  """The output folder cannot be held; the message says why, in one line."""


class OutputBusyError(OutputLockError):
  """Another process holds the output folder; the message names it."""


def lock_path(output: str) -> str:
  return os.path.join(output, LOCK_FILE)


def _describe(holder: Optional[dict]) -> str:
  if not holder:
    return 'another process (it has not written its name yet)'
  return (f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')} on "
          f"{holder.get('host', '?')}, started {holder.get('started', '?')})")


def read_holder(output: str) -> Optional[dict]:
  """What the holder wrote into the lock file, or None."""
  try:
    with open(lock_path(output), encoding='utf-8') as f:
      return json.loads(f.read() or 'null')
  except (OSError, ValueError):
    return None


def _command_line() -> str:
  argv = list(sys.argv)
  if argv and argv[0].endswith(('__main__.py', '-c')):
    argv[0] = 'python -m pipeline'
  return ' '.join(argv)[:300]


def _acquire(output: str, command: str) -> int:
  """The locked file descriptor, or OutputBusyError (nothing written)."""
  path = lock_path(output)
  while True:
    try:
      os.makedirs(output, exist_ok=True)
      # O_CREAT without O_TRUNC: a refused process must not wipe the
      # holder's description before reading it.
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:  # the same words as the runner's own check
      raise OutputLockError(f'cannot write to --output {output}: '
                            f'{error.strerror or error}') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      os.close(fd)
      if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise
      raise OutputBusyError(
          f'{output} is in use by {_describe(read_holder(output))}: wait '
          'for it to finish, or give another --output') from None
    # The holder deletes the file as it lets go: a lock taken on a file
    # that is no longer at the path is worth nothing, so open it again.
    try:
      if os.fstat(fd).st_ino == os.stat(path).st_ino:
        break
    except FileNotFoundError:
      pass
    os.close(fd)
  holder = {'command': command, 'pid': os.getpid(),
            'host': socket.gethostname(),
            'started': datetime.datetime.now().astimezone().isoformat(
                timespec='seconds')}
  os.ftruncate(fd, 0)
  os.pwrite(fd, json.dumps(holder).encode('utf-8'), 0)
  return fd


@contextlib.contextmanager
def hold(output: str, command: Optional[str] = None,
         create: bool = True) -> Iterator[None]:
  """Holds the output folder for this process; OutputBusyError when taken.

  Re-entrant within a process; released when the outermost holder leaves
  (or the process dies); an output nobody holds has no lock file, unless
  its holder was killed (the file is then left, unlocked). With
  create=False a folder that does not exist is not made (a command that
  needs an existing output then says what is missing) and nothing is held.
  """
  if not create and not os.path.isdir(output):
    yield
    return
  key = os.path.realpath(output)
  with _held_guard:
    fd, depth = _held.get(key, (None, 0))
    if fd is None:
      fd = _acquire(output, command or _command_line())
    _held[key] = (fd, depth + 1)
  try:
    yield
  finally:
    with _held_guard:
      fd, depth = _held[key]
      if depth == 1:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
          os.unlink(lock_path(output))  # while still held: see _acquire
        os.close(fd)  # releases the flock
      else:
        _held[key] = (fd, depth - 1)
