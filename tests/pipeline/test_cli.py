"""Bad arguments to `python -m pipeline`: one line, exit 2, nothing written.

Run as a user runs them (a subprocess), but for the eight settings of
test_bad_settings, which run in this process (conftest.cli_in_process): the
same parser and checks without eight TensorFlow start-ups. None gets as
far as TFX.
"""

import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.conftest import cli_in_process


def _pipeline(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def _assert_one_line_error(proc, expected):
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  errors = [line for line in lines if line.startswith('error: ')]
  assert len(errors) == 1 and expected in errors[0], proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('args, expected', [
    (['--rows', '0'], '--rows must be at least 1, not 0'),
    (['--rows', '-3'], '--rows must be at least 1'),
    (['--train-steps', '-1'], '--train-steps must be 0 (by size) or more, not -1'),
    (['--beam-workers', '-1'], '--beam-workers must be 0 (by size) or more'),
    (['--min-auc', '2'], '--min-auc must be between 0 and 1'),
    (['--window', '0'], '--window must be at least 1, not 0'),
    (['--from-input', '--data', 'x.csv'], 'give it or --data, not both'),
    (['--config', '/nonexistent/settings.json'], 'cannot read the config'),
])
def test_bad_settings(args, expected, tmp_path):
  proc = cli_in_process('run', '--output', str(tmp_path / 'out'), *args)
  _assert_one_line_error(proc, expected)
  assert not (tmp_path / 'out').exists()  # refused before anything is made


def test_from_input_without_a_span(tmp_path):
  (tmp_path / 'input').mkdir()
  proc = _pipeline('run', '--output', str(tmp_path), '--from-input')
  _assert_one_line_error(proc, f'--from-input: no span-N folder in '
                         f'{tmp_path / "input"}')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['input']


def test_missing_data_file(tmp_path):
  proc = _pipeline('run', '--output', str(tmp_path), '--data',
                   str(tmp_path / 'missing.csv'))
  _assert_one_line_error(proc, 'no such data file')


def test_data_file_that_is_not_an_export(tmp_path):
  bad = tmp_path / 'notes.csv'
  bad.write_text('just,some\ncolumns,here\n')
  proc = _pipeline('run', '--output', str(tmp_path / 'out'), '--data',
                   str(bad))
  _assert_one_line_error(proc, f'cannot use {bad}')


def test_unwritable_output(tmp_path):
  # A path under a regular file can never be created, root or not.
  blocker = tmp_path / 'a-file'
  blocker.write_text('x')
  proc = _pipeline('run', '--output', str(blocker / 'out'))
  _assert_one_line_error(proc, f'cannot write to --output {blocker / "out"}')


def test_curate_schema_with_a_missing_file(tmp_path):
  proc = _pipeline('curate-schema', str(tmp_path / 'schema.pbtxt'))
  _assert_one_line_error(proc, 'no such schema file')
