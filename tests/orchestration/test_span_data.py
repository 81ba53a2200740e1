"""orchestration.span_data: the latest span, as an export, maps back to itself.

The retrain step relies on `pipeline run --data <it>` reusing the latest span
(no new span, the same bytes); that reuse is `pipeline.input_data.prepare`'s
own rule, so the test asks prepare, not span_data, whether it holds.
"""

import os
import subprocess
import sys

from orchestration import span_data
from pipeline import input_data
from tests.conftest import REPO

EXPORT = REPO / 'tests' / 'fixtures' / 'cfpb_export_small.csv'


def _prepare(export, output):
  return input_data.prepare(str(export), str(output / 'input'),
                            str(output / 'unlabelled'))


def test_the_latest_span_as_export_is_reused_byte_for_byte(tmp_path):
  first = _prepare(EXPORT, tmp_path)
  with open(first.csv_path, 'rb') as f:
    before = f.read()
  mtime = os.stat(first.csv_path).st_mtime_ns
  written = span_data.write_latest_span_as_export(
      str(tmp_path / 'input'), str(tmp_path / 'latest.csv'))
  again = _prepare(written, tmp_path)
  assert (again.span, again.new_span) == (first.span, False)
  assert again.labelled_rows == first.labelled_rows
  with open(first.csv_path, 'rb') as f:
    assert f.read() == before
  assert os.stat(first.csv_path).st_mtime_ns == mtime  # ExampleGen's cache


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'orchestration.span_data',
                         *args], cwd=REPO, capture_output=True, text=True)


def test_no_span_yet_gives_the_seed(tmp_path):
  done = _cli('--output', str(tmp_path), '--out', str(tmp_path / 'x.csv'),
              '--seed', 'a.csv', '--seed', 'b.csv')
  assert (done.returncode, done.stdout.split()) == (0, ['a.csv', 'b.csv'])
  assert not (tmp_path / 'x.csv').exists()
  done = _cli('--output', str(tmp_path), '--out', str(tmp_path / 'x.csv'))
  assert (done.returncode, done.stdout) == (0, '')


def test_a_span_not_in_the_pipeline_layout_is_one_line_exit_2(tmp_path):
  span = tmp_path / 'input' / 'span-4'
  span.mkdir(parents=True)
  (span / 'complaints.csv').write_text('a,b\n1,2\n', encoding='utf-8')
  done = _cli('--output', str(tmp_path), '--out', str(tmp_path / 'x.csv'))
  assert done.returncode == 2
  assert done.stderr.startswith('error: span 4 at ')
  assert len(done.stderr.splitlines()) == 1
  assert not (tmp_path / 'x.csv').exists()
