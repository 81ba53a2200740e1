"""The run report and the run index rendered from dict readings."""

import re

from pipeline import paths as project_paths
from pipeline.reports import model_card
from pipeline.reports import run_index
from pipeline.reports import run_report
from tests.pipeline.reports import fixtures


def _run(index, run_id, **extra):
  run = {'index': index, 'run_id': run_id, 'started': '2026-12-01T09:00:00',
         'status': 'complete', 'components': {'Trainer': 'COMPLETE'},
         'data': {'span': index, 'files': [], 'sha256': None,
                  'rows_per_split': {'train': 800, 'eval': 200}},
         'blessed': True, 'pushed_version': None, 'pushed_destination': None}
  run.update(extra)
  return run


def test_report_of_a_run_without_evaluation():
  run = _run(1, 'r:1', status='stopped by data gate', blessed=None)
  page = run_report.render({'run': run, 'lineage': None, 'output': '/o'})
  assert page.startswith('<!DOCTYPE html>') and page.endswith('</html>\n')
  assert '<h1>Run r:1</h1>' in page
  assert 'No model was evaluated in this run (stopped by data gate)' in page
  assert 'train 800, eval 200' in page
  assert not re.search(r'<(script|link|img|iframe)\b', page)


def test_report_metrics_and_baseline_tables():
  ev = dict(fixtures.TRAIL['evaluation'], uri=None)
  page = run_report.render({'run': _run(2, 'r2', evaluation=ev),
                            'lineage': None, 'output': '/o'})
  overall = re.search(r'<tr><td>Overall</td>(.*?)</tr>', page).group(1)
  assert re.findall(r'<td class="num">([^<]*)</td>', overall) == [
      '3000', '0.2', '0.77', '0.750-0.790', '0.5', '0.25', '0.8', '1.01']
  assert '<tr class="small"><td>product:Prepaid card</td>' in page
  assert '+0.0123' in page and '1796000000' in page


def test_index_lists_runs_newest_first_with_relative_links(tmp_path):
  paths = project_paths.RunPaths(str(tmp_path))
  version_dir = tmp_path / 'serving' / 'complaints' / '17'
  card = model_card.card_path(str(version_dir))
  (version_dir / 'assets.extra').mkdir(parents=True)
  open(card, 'w').close()
  (tmp_path / 'reports').mkdir()
  (tmp_path / 'reports' / run_report.report_name('r:2')).write_text('x')
  listed = [_run(1, 'r:1', blessed=False),
            _run(2, 'r:2', pushed_version='17',
                 pushed_destination=str(version_dir))]
  page = run_index.render(paths, listed)
  rows = re.findall(r'<tr><td>(\d+)</td><td>([^<]*)</td>', page)
  assert rows == [('2', 'r:2'), ('1', 'r:1')]
  assert '<a href="r-2.html">report</a>' in page
  assert ('<a href="../serving/complaints/17/assets.extra/model_card.md">'
          'model card</a>' in page)
  assert f'lineage --output {tmp_path} --version 17' in page
  assert 'r-1.html' not in page  # no report on disk: no dead link
