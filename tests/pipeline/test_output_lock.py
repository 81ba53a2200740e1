"""One writer per --output: a second writer is refused, a killed one is not
waited for. Real processes: the holders are `python -m pipeline run` and a
process holding the lock through pipeline.output_lock; the refused ones are
the CLI as a user runs it.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline import output_lock
from tests.conftest import REPO

HOLDER = """
import sys
from pipeline import output_lock
with output_lock.hold(sys.argv[1], command='pipeline run (test holder)'):
  print('held', flush=True)
  sys.stdin.read()
"""


def _pipeline(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def _tree(folder):
  """Every file under folder with its size and modification time."""
  found = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      stat = os.stat(path)
      found[path] = (stat.st_size, stat.st_mtime_ns)
  return found


def _wait_for(condition, what, timeout=300.0):
  """Polls condition() until true; the deadline only catches a hang."""
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline, f'gave up waiting for {what}'
    time.sleep(0.05)


@pytest.fixture
def holder(tmp_path):
  """A real process holding tmp_path/out until the test ends or kills it."""
  output = tmp_path / 'out'
  proc = subprocess.Popen([sys.executable, '-c', HOLDER, str(output)],
                          cwd=REPO, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == 'held'  # blocks until it holds
  yield output, proc
  if proc.poll() is None:
    proc.kill()
  proc.wait(timeout=60)


def _assert_refused(proc, holder_pid):
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, proc.stderr[-2000:]
  assert lines[0].startswith('error: ') and 'is in use by' in lines[0]
  assert f'pid {holder_pid} ' in lines[0], lines[0]
  assert '`pipeline run (test holder)`' in lines[0], lines[0]


@pytest.mark.parametrize('command', [
    ['run', '--rows', '500', '--no-tune'],
    ['loop', '--traffic-rows', '200'],
    ['monitor', '--logs', '/nonexistent/logs'],
    ['feedback', '/nonexistent/labels.csv', '--logs', '/nonexistent/logs'],
])
def test_a_writer_into_a_held_output_is_refused_and_writes_nothing(
    holder, command):
  output, proc = holder
  (output / 'input').mkdir()
  (output / 'input' / 'kept.csv').write_text('a,b\n1,2\n')
  before = _tree(output)
  refused = _pipeline(command[0], '--output', str(output), *command[1:])
  _assert_refused(refused, proc.pid)
  assert _tree(output) == before


def test_readers_need_no_lock(holder):
  output, _ = holder
  proc = _pipeline('runs', '--output', str(output))
  assert 'in use' not in proc.stderr
  assert 'no ML Metadata' in proc.stderr or proc.returncode == 0, proc.stderr


def test_a_killed_holder_leaves_the_output_free(holder):
  output, proc = holder
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=60)
  with output_lock.hold(str(output), command='the test'):
    assert output_lock.read_holder(str(output))['pid'] == os.getpid()


def test_the_lock_is_reentrant_in_one_process(tmp_path):
  output = str(tmp_path / 'out')
  with output_lock.hold(output, command='outer'):
    with output_lock.hold(output, command='inner'):
      assert output_lock.read_holder(output)['command'] == 'outer'
    # Still held after the inner exit: another process is refused.
    check = subprocess.run(
        [sys.executable, '-c', 'import sys; from pipeline import output_lock;'
         'output_lock.hold(sys.argv[1]).__enter__()', output], cwd=REPO,
        capture_output=True, text=True, timeout=120)
    assert check.returncode != 0 and 'OutputBusyError' in check.stderr
    assert f'pid {os.getpid()} ' in check.stderr


def test_two_pipeline_runs_into_one_output(tmp_path):
  """The case of the issue: a second `pipeline run` while the first runs.

  The first is stopped (SIGSTOP) once it holds the output, so the folder
  cannot change under the check; then killed with SIGKILL, which must free
  the output for the next run.
  """
  output = tmp_path / 'out'
  first = subprocess.Popen(
      [sys.executable, '-m', 'pipeline', 'run', '--output', str(output),
       '--rows', '500', '--no-tune', '--train-steps', '10'], cwd=REPO,
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    def holds():
      assert first.poll() is None, 'the first run ended before holding'
      return (output_lock.read_holder(str(output)) or {}).get(
          'pid') == first.pid
    _wait_for(holds, 'the first run to hold the output')
    first.send_signal(signal.SIGSTOP)
    before = _tree(output)
    second = _pipeline('run', '--output', str(output), '--rows', '500')
    assert second.returncode == 2, second.stderr[-2000:]
    [line] = [x for x in second.stderr.splitlines() if x.strip()]
    assert f'is in use by `python -m pipeline run --output {output}' in line
    assert f'pid {first.pid} ' in line
    assert _tree(output) == before
  finally:
    first.kill()
    first.wait(timeout=60)
  with output_lock.hold(str(output), command='the next run'):
    holder = output_lock.read_holder(str(output))
  assert holder['command'] == 'the next run'
