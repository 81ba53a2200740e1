"""A result file's made_by: dirty when tracked code differs from the
commit, not when only the result file itself does (a benchmark that writes
after every size has changed it by its second write)."""

import json
import subprocess

from benchmarks import result_file


def _git(repo, *args):
  subprocess.run(['git', *args], cwd=repo, check=True, capture_output=True)


def test_dirty_ignores_the_result_being_written(tmp_path, monkeypatch):
  repo = tmp_path / 'repo'
  (repo / 'benchmarks' / 'results').mkdir(parents=True)
  result = repo / 'benchmarks' / 'results' / 'r.json'
  code = repo / 'code.py'
  result.write_text('{}\n')
  code.write_text('x = 1\n')
  _git(repo, 'init', '-q')
  _git(repo, 'add', '.')
  _git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm',
       'one')
  monkeypatch.setattr(result_file, 'REPO', str(repo))
  result_file.write(str(result), {'auc': 0.7})   # changes the file
  result_file.write(str(result), {'auc': 0.8})   # its second write
  stamped = json.loads(result.read_text())
  assert stamped['auc'] == 0.8 and stamped['made_by']['dirty'] is False
  code.write_text('x = 2\n')
  result_file.write(str(result), {'auc': 0.9})
  assert json.loads(result.read_text())['made_by']['dirty'] is True
