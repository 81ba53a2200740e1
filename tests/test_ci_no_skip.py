"""tests/ci_no_skip.py, run for real: pytest on tiny test files, CI on and off."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

SAMPLE = '''
import pytest


def test_passes():
  pass


@pytest.mark.skip(reason='no chromium here')
def test_marked():
  pass


def test_skips_inside():
  pytest.skip('server not reachable')


@pytest.fixture
def browser():
  pytest.skip('fixture cannot start a browser')


def test_fixture_skip(browser):
  pass


@pytest.mark.xfail(reason='known bug', strict=True)
def test_expected_failure():
  assert False
'''

MODULE_SKIP = '''
import pytest

pytest.importorskip('no_such_module_for_ci_no_skip')


def test_never_runs():
  pass
'''
SKIP_REASONS = ('no chromium here', 'server not reachable',
                'fixture cannot start a browser')
CI_MESSAGE = 'where every test must run'


def run_pytest(tmp_path, source, ci, other_tests='', *extra):
  """Runs pytest with the plugin on `source` (and `other_tests` next to it).

  `ci` None leaves CI unset; extra: more pytest arguments.
  """
  (tmp_path / 'pytest.ini').write_text('[pytest]\n')  # Not the repo's.
  (tmp_path / 'test_sample.py').write_text(source)
  if other_tests:
    (tmp_path / 'test_other.py').write_text(other_tests)
  env = {k: v for k, v in os.environ.items() if k != 'CI'}
  env['PYTHONPATH'] = str(REPO)
  if ci is not None:
    env['CI'] = ci
  return subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-rfEs', '-p', 'tests.ci_no_skip',
       '-p', 'no:cacheprovider', *extra, '.'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def _last_line(proc):
  return proc.stdout.strip().splitlines()[-1]


def test_without_ci_skips_are_skips_and_listed_with_reasons(tmp_path):
  proc = run_pytest(tmp_path, SAMPLE, ci=None)
  assert proc.returncode == 0, proc.stdout
  assert _last_line(proc).startswith('1 passed, 3 skipped, 1 xfailed in ')
  skipped_lines = [line for line in proc.stdout.splitlines()
                   if line.startswith('SKIPPED [1] test_sample.py:')]
  assert len(skipped_lines) == 3, proc.stdout
  for reason in SKIP_REASONS:
    assert any(line.endswith(reason) for line in skipped_lines), reason
  assert CI_MESSAGE not in proc.stdout


def test_ci_false_is_not_ci(tmp_path):
  proc = run_pytest(tmp_path, SAMPLE, ci='false')
  assert proc.returncode == 0, proc.stdout
  assert _last_line(proc).startswith('1 passed, 3 skipped, 1 xfailed in ')


def test_under_ci_every_skip_fails_with_its_reason(tmp_path):
  for ci in ('true', '1'):
    proc = run_pytest(tmp_path, SAMPLE, ci=ci)
    assert proc.returncode == 1, proc.stdout
    # The skip in the test body fails the test; the skip mark and the
    # fixture's skip happen in setup, which pytest reports as errors.
    assert _last_line(proc).startswith(
        '1 failed, 1 passed, 1 xfailed, 2 errors in '), proc.stdout
    assert 'skipped' not in _last_line(proc)
    # The short summary (-rfEs, as in `make test`) names each one and why.
    summary = proc.stdout.split(' short test summary info ')[1]
    for outcome, test, reason in [
        ('FAILED', 'test_skips_inside', 'server not reachable'),
        ('ERROR', 'test_marked', 'no chromium here'),
        ('ERROR', 'test_fixture_skip', 'fixture cannot start a browser')]:
      line = '%s test_sample.py::%s - skipped under CI=%s, %s: ' % (
          outcome, test, ci, CI_MESSAGE)
      assert line in summary, summary
      assert summary.split(line)[1].split('\n')[0].endswith(reason)


def test_under_ci_skips_fail_on_xdist_workers_too(tmp_path):
  """`make test` runs two pytest-xdist workers: the reports the workers
  send back must be the failures the plugin made of the skips."""
  proc = run_pytest(tmp_path, SAMPLE, 'true', '', '-n', '2',
                    '-p', 'no:randomly')
  assert proc.returncode == 1, proc.stdout
  assert _last_line(proc).startswith(
      '1 failed, 1 passed, 1 xfailed, 2 errors in '), proc.stdout
  assert proc.stdout.count('skipped under CI=true') >= 3, proc.stdout


def test_under_ci_a_module_skipped_at_import_fails(tmp_path):
  passing = 'def test_passes():\n  pass\n'
  proc = run_pytest(tmp_path, MODULE_SKIP, ci=None, other_tests=passing)
  assert proc.returncode == 0, proc.stdout
  assert _last_line(proc).startswith('1 passed, 1 skipped in ')
  proc = run_pytest(tmp_path, MODULE_SKIP, ci='true', other_tests=passing)
  assert proc.returncode == 2, proc.stdout  # Interrupted: collection error.
  assert 'skipped under CI=true, %s' % CI_MESSAGE in proc.stdout
  assert "could not import 'no_such_module_for_ci_no_skip'" in proc.stdout
