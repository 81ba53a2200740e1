"""What a request-log collector does about its disk: trouble and retention.

A full or failing disk must not cost the server a file or a log line per
request (before this module it cost both: one new empty file and one ERROR
line per request once the disk was full), and a server that runs for months
must not fill its disk with old logs. TFRecordCollector
(request_logger.py) asks this module three things:

* `Backoff`: after a failed write, when to try the disk again (doubling
  from the first delay up to a cap, reset by a write that succeeds);
* `OncePer`: whether a line may go to the server's log now (at most one per
  interval, per collector), and how many events the skipped lines stood for;
* `has_room` / `enforce_retention`: whether the filesystem has room for a
  record before a new file is created (so a full disk gets no file), and
  which old log files to delete (oldest first) to keep a collector within
  its total-bytes and age bounds.
"""

import dataclasses
import os
import re
import time
from typing import Callable, Iterable, List, Optional


class Backoff:
  """Delays between retries: `first`, doubling, at most `cap` seconds."""

  def __init__(self, first: float, cap: float,
               clock: Callable[[], float] = time.monotonic):
    self.first = first
    self.cap = max(first, cap)
    self._clock = clock
    self._next_delay = first
    self.retry_at: Optional[float] = None

  @property
  def waiting(self) -> bool:
    """True while a failure's back-off has not run out."""
    return self.retry_at is not None and self._clock() < self.retry_at

  @property
  def failing(self) -> bool:
    """True from a failure until the next success."""
    return self.retry_at is not None

  def failed(self) -> float:
    """Records a failure; returns the delay before the next try."""
    delay = self._next_delay
    self.retry_at = self._clock() + delay
    self._next_delay = min(self.cap, delay * 2)
    return delay

  def succeeded(self) -> None:
    self.retry_at = None
    self._next_delay = self.first


class OncePer:
  """Lets one event through per `interval` seconds, counting the others."""

  def __init__(self, interval: float,
               clock: Callable[[], float] = time.monotonic):
    self.interval = interval
    self._clock = clock
    self._last: Optional[float] = None
    self.suppressed = 0

  def allow(self) -> Optional[int]:
    """None if the event must stay silent, else the count it silenced."""
    now = self._clock()
    if self._last is not None and now - self._last < self.interval:
      self.suppressed += 1
      return None
    self._last = now
    silenced, self.suppressed = self.suppressed, 0
    return silenced


def has_room(path: str, nbytes: int) -> bool:
  """Whether the filesystem holding `path` has `nbytes` and an inode free.

  Asked before a new log file is created, so a full disk gets no empty file.
  Root may also use the blocks ext4 reserves for it (f_bfree); others
  only the available ones. A `path` that does not exist yet is judged by
  its nearest existing parent.
  """
  while path and not os.path.exists(path):
    parent = os.path.dirname(path)
    if parent == path:
      break
    path = parent
  try:
    stats = os.statvfs(path or '.')
  except OSError:
    return True  # Cannot tell: let the write itself say.
  blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
  inodes_known = stats.f_files > 0  # Some filesystems report no inodes.
  return (blocks * stats.f_frsize >= nbytes and
          (not inodes_known or stats.f_favail > 0))


@dataclasses.dataclass(frozen=True)
class LogFile:
  path: str
  size: int
  mtime: float


def collector_files(prefix: str, suffix: str) -> List[LogFile]:
  """The log files a collector with `prefix` writes, oldest first.

  Only names of the collector's shape (`<prefix>-<UTC time>-<pid>-
  <collector>-<sequence><suffix>`, or `<prefix><UTC time>-...` for a
  prefix ending in '/'), from every process that used the prefix; they
  sort in the order they were started. Other files are never touched.
  """
  directory, base = os.path.split(prefix)
  joiner = '' if not base else '-'
  shape = re.compile(re.escape(base + joiner) +
                     r'\d{8}T\d{6}\.\d{6}Z-\d+-\d+-\d+' + re.escape(suffix) +
                     '$')
  try:
    names = os.listdir(directory or '.')
  except OSError:
    return []
  files = []
  for name in sorted(n for n in names if shape.match(n)):
    path = os.path.join(directory, name)
    try:
      stats = os.stat(path)
    except OSError:
      continue  # Deleted meanwhile.
    files.append(LogFile(path, stats.st_size, stats.st_mtime))
  return files


def enforce_retention(files: Iterable[LogFile], max_total_bytes: int,
                      max_age_seconds: float, now: float,
                      reserved_bytes: int = 0) -> List[LogFile]:
  """The files to delete, oldest first, to meet the bounds.

  Args:
    files: the collector's closed files, oldest first (the open one is
      not among them: it is never deleted).
    max_total_bytes: 0 = no bound; else the closed files keep at most this
      much minus `reserved_bytes` (the room the open file may fill).
    max_age_seconds: 0 = no bound; else a file last written longer ago
      than this goes.
    now: the wall-clock time, as file modification times.
    reserved_bytes: see max_total_bytes.
  """
  doomed, kept = [], []
  for f in files:
    too_old = max_age_seconds > 0 and now - f.mtime > max_age_seconds
    (doomed if too_old else kept).append(f)
  files = kept
  if max_total_bytes > 0:
    budget = max(0, max_total_bytes - reserved_bytes)
    total = sum(f.size for f in files)
    for f in files:
      if total <= budget:
        break
      doomed.append(f)
      total -= f.size
  return doomed
