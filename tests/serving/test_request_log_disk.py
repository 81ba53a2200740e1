"""Request log collectors on a full disk, and their retention bounds.

The disk is a real tmpfs the test mounts and fills (small_filesystem.py);
the files are read back with TensorFlow's own tf.data.TFRecordDataset. The
clock of the back-off and of the one-line-per-interval rule is a fake one
the test moves, so no test waits for a minute to pass. The same behaviour
on the real server is tested in test_request_logging.py.
"""

import logging
import os
import re
import time

import pytest
import tensorflow as tf

from serving import prometheus
from serving import request_log_disk
from serving import request_logger

import small_filesystem

MODEL = 'm'


class FakeClock:
  """Monotonic seconds that move only when the test says so."""

  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


def _record(i: int, size: int = 484) -> bytes:
  """Payload `i` of `size` bytes (a TFRecord frame adds 16)."""
  head = f'{i:06d}'.encode()
  return head + b'.' * (size - len(head))


def _send(collector, numbers, size=484):
  for i in numbers:
    collector.collect(MODEL, lambda i=i: _record(i, size))
  assert collector.flush(timeout=60)


def _records(paths):
  """Every record's number, file by file; raises on a damaged file."""
  return [int(r.numpy()[:6]) for p in sorted(paths)
          for r in tf.data.TFRecordDataset(p)]


def _log_files(directory):
  return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                if n.endswith('.tfrecord'))


def _trouble_lines(caplog, prefix):
  return [r for r in caplog.records
          if r.getMessage().startswith(f'Request log {prefix}:')]


def _dropped_count(line) -> int:
  match = re.search(r'; (\d+) record\(s\) dropped since the last',
                    line.getMessage())
  assert match, line.getMessage()
  return int(match.group(1))


def test_full_disk_costs_no_file_and_one_line_per_interval(tmp_path, caplog):
  caplog.set_level(logging.WARNING)
  clock = FakeClock()
  metrics = prometheus.Metrics()
  with small_filesystem.mounted(tmp_path / 'disk', 256 * 1024) as disk:
    prefix = os.path.join(disk, 'logs', MODEL)
    collector = request_logger.TFRecordCollector(
        prefix, metrics=metrics, queue_size=5000, retry_seconds=10,
        error_log_interval=60, clock=clock)
    try:
      _send(collector, range(5))
      assert collector.written == 5 and collector.dropped == 0
      filler = small_filesystem.fill(disk)
      files_when_full = _log_files(os.path.dirname(prefix))
      assert len(files_when_full) == 1

      # 4,000 records (2 MB) against the page or so left in the open file.
      _send(collector, range(5, 4005))
      assert collector.dropped > 0
      assert collector.written + collector.dropped == 4005
      assert _log_files(os.path.dirname(prefix)) == files_when_full
      # What was flushed stays readable: the failed tail was cut off.
      on_disk = _records(files_when_full)
      assert on_disk == list(range(collector.written))
      assert metrics.request_log_dropped.value(MODEL, 'write_error') == (
          4005 - len(on_disk))
      assert metrics.request_log_written.value(MODEL) == len(on_disk)
      lines = _trouble_lines(caplog, prefix)
      assert len(lines) == 1 and lines[0].levelno == logging.ERROR
      assert 'No space left on device' in lines[0].getMessage()

      # The back-off (10 s) runs out; the retry finds no room and creates
      # no file; the next back-off is 20 s. Still within the line interval.
      clock.now += 11
      _send(collector, range(4005, 4015))
      assert collector.written == len(on_disk)
      assert _log_files(os.path.dirname(prefix)) == files_when_full
      assert len(_trouble_lines(caplog, prefix)) == 1

      # A minute after the first line, the next failed retry may say so.
      clock.now += 61
      _send(collector, [4015])
      lines = _trouble_lines(caplog, prefix)
      assert len(lines) == 2
      # Between them, the two lines count every drop, each once.
      assert sum(_dropped_count(line) for line in lines) == 4016 - len(
          on_disk)
      assert _log_files(os.path.dirname(prefix)) == files_when_full

      # Room again: after the back-off (40 s now), logging resumes.
      os.remove(filler)
      _send(collector, [4016])
      assert collector.written == len(on_disk)  # Still backing off.
      clock.now += 61  # Past the back-off, and a line may go out.
      _send(collector, [4017, 4018])
      assert collector.written == len(on_disk) + 2
      files = _log_files(os.path.dirname(prefix))
      assert len(files) == 2
      assert _records(files) == on_disk + [4017, 4018]
      lines = _trouble_lines(caplog, prefix)
      assert len(lines) == 3 and lines[2].levelno == logging.WARNING
      assert 'writing again' in lines[2].getMessage()
    finally:
      collector.close()


def test_line_count_in_a_report_covers_the_silenced_drops(tmp_path, caplog):
  caplog.set_level(logging.WARNING)
  clock = FakeClock()
  with small_filesystem.mounted(tmp_path / 'disk', 64 * 1024) as disk:
    small_filesystem.fill(disk)
    prefix = os.path.join(disk, MODEL)
    collector = request_logger.TFRecordCollector(
        prefix, retry_seconds=1000, error_log_interval=60, clock=clock)
    try:
      _send(collector, range(7))  # 1 fails (no room for a file), 6 wait.
      clock.now += 1001
      _send(collector, [7])  # Fails again: 6 + 1 dropped since line one.
      assert [_dropped_count(line) for line in _trouble_lines(
          caplog, prefix)] == [1, 7]
      assert os.listdir(disk) == ['filler']
    finally:
      collector.close()


def test_retention_by_bytes_deletes_the_oldest_files(tmp_path):
  directory = tmp_path / 'logs'
  directory.mkdir()
  foreign = [directory / 'm-notes.txt',
             directory / 'other-20000101T000000.000000Z-1-0-00000.tfrecord',
             directory / 'm-x-20000101T000000.000000Z-1-0-00000.tfrecord']
  for path in foreign:
    path.write_bytes(b'not ours' * 1000)
  prefix = str(directory / 'm')
  # Records of 500 bytes framed: a file closes after 4 (2,000 bytes); at
  # each close the closed files keep 6,000 - 2,000 bytes, 2 files.
  collector = request_logger.TFRecordCollector(
      prefix, max_file_bytes=2000, max_total_bytes=6000)
  try:
    for i in range(60):
      _send(collector, [i])
  finally:
    collector.close()
  files = _log_files(directory)
  ours = [f for f in files if os.path.basename(f).startswith('m-2')]
  assert len(ours) == 2
  assert [os.path.getsize(f) for f in ours] == [2000, 2000]
  assert _records(ours) == list(range(52, 60))
  assert collector.deleted_files == 13
  for path in foreign:
    assert path.read_bytes() == b'not ours' * 1000


def test_retention_by_age_covers_earlier_processes(tmp_path):
  directory = tmp_path / 'logs'
  directory.mkdir()
  now = time.time()
  earlier = {}
  for name, age in (('m-20200101T000000.000000Z-11-0-00000.tfrecord', 7200),
                    ('m-20200101T000001.000000Z-11-0-00001.tfrecord', 3601),
                    ('m-20200101T000002.000000Z-11-0-00002.tfrecord', 10),
                    ('m-notes.txt', 7200)):
    path = directory / name
    path.write_bytes(b'x')
    os.utime(path, (now - age, now - age))
    earlier[name] = path
  collector = request_logger.TFRecordCollector(
      str(directory / 'm'), max_age_seconds=3600)
  try:
    _send(collector, [0])  # Retention ran at start, before this record.
  finally:
    collector.close()
  left = sorted(os.listdir(directory))
  assert 'm-20200101T000000.000000Z-11-0-00000.tfrecord' not in left
  assert 'm-20200101T000001.000000Z-11-0-00001.tfrecord' not in left
  assert 'm-20200101T000002.000000Z-11-0-00002.tfrecord' in left
  assert 'm-notes.txt' in left
  assert len(left) == 3  # The two kept, and the new file.


def test_backoff_doubles_to_its_cap_and_resets():
  clock = FakeClock()
  backoff = request_log_disk.Backoff(1.0, 5.0, clock)
  assert not backoff.failing and not backoff.waiting
  assert [backoff.failed() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
  assert backoff.waiting
  clock.now += 5.0
  assert backoff.failing and not backoff.waiting
  backoff.succeeded()
  assert not backoff.failing and backoff.failed() == 1.0


def test_once_per_interval_counts_what_it_silences():
  clock = FakeClock()
  once = request_log_disk.OncePer(60.0, clock)
  assert once.allow() == 0
  clock.now += 59.9
  assert once.allow() is None and once.allow() is None
  clock.now += 0.1
  assert once.allow() == 2
  assert once.allow() is None


@pytest.mark.parametrize('prefix_end', ['m', ''])
def test_collector_files_knows_its_names_only(tmp_path, prefix_end):
  prefix = str(tmp_path) + '/' + prefix_end
  names = [os.path.basename(request_logger.log_file_name(prefix, 0, seq,
                                                         now=1.7e9 + seq))
           for seq in (1, 0)]
  for name in names + ['notes.txt', 'm-notes.tfrecord']:
    (tmp_path / name).write_bytes(b'x')
  found = request_log_disk.collector_files(prefix, '.tfrecord')
  assert [os.path.basename(f.path) for f in found] == sorted(names)


def test_age_bound_applies_while_the_collector_runs(tmp_path):
  directory = tmp_path / 'logs'
  directory.mkdir()
  collector = request_logger.TFRecordCollector(
      str(directory / 'm'), max_age_seconds=60, retention_check_seconds=0.05)
  try:
    _send(collector, [0])  # The check at start has run: this file is new.
    old = directory / 'm-20200101T000000.000000Z-11-0-00000.tfrecord'
    old.write_bytes(b'x')
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    deadline = time.monotonic() + 120
    # Only a check while running can find it; the count follows the
    # unlink, so both are waited for (the file may go first).
    while old.exists() or collector.deleted_files < 1:
      assert time.monotonic() < deadline, 'the age bound was never applied'
      time.sleep(0.05)
    assert collector.deleted_files == 1
    assert len(_log_files(directory)) == 1  # The open file stays.
  finally:
    collector.close()
