"""orchestration.labels_drop: a folder of outcome files as one labels CSV."""

import csv
import subprocess
import sys

from tests.conftest import REPO

HEADER = ['Complaint ID', 'Consumer disputed?']


def _write(path, header, rows):
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'orchestration.labels_drop',
                         *map(str, args)], cwd=REPO, capture_output=True,
                        text=True)


def test_every_file_merged_with_only_the_two_columns(tmp_path):
  drop = tmp_path / 'drop'
  drop.mkdir()
  _write(drop / 'a.csv', ['Date', *HEADER], [['d', '1', 'Yes'],
                                             ['d', '2', 'No']])
  _write(drop / 'b.csv', HEADER[::-1], [['No', '3'], ['Yes', '1']])
  (drop / 'notes.txt').write_text('not a labels file', encoding='utf-8')
  out = tmp_path / 'work' / 'labels.csv'
  done = _cli(drop, '--out', out)
  assert (done.returncode, done.stdout.strip()) == (0, str(out))
  with open(out, newline='', encoding='utf-8') as f:
    assert list(csv.reader(f)) == [HEADER, ['1', 'Yes'], ['2', 'No'],
                                   ['3', 'No'], ['1', 'Yes']]


def test_bad_drops_are_one_line_exit_2_and_write_nothing(tmp_path):
  out = tmp_path / 'labels.csv'
  empty = tmp_path / 'empty'
  empty.mkdir()
  wrong = tmp_path / 'wrong'
  wrong.mkdir()
  _write(wrong / 'a.csv', ['Complaint ID', 'disputed'], [['1', 'Yes']])
  for drop, says in ((tmp_path / 'missing', 'no such labels file or folder'),
                     (empty, 'no labels file (*.csv) in'),
                     (wrong, 'is not a labels file: it lacks '
                             '"Consumer disputed?"')):
    done = _cli(drop, '--out', out)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith('error: ') and says in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not out.exists()
