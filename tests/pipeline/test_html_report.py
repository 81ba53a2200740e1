"""The run's self-contained HTML report, as the e2e run wrote it."""

import os
import re
import subprocess
import tempfile

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = '/usr/bin/chromium'


@pytest.fixture(scope='module')
def report(e2e_run):
  path = e2e_run.summary.get('report')
  assert path, 'the run summary names no report'
  with open(path, encoding='utf-8') as f:
    return path, f.read()


def test_report_is_under_the_output_and_named_in_the_summary(e2e_run, report):
  path, _ = report
  run_id = e2e_run.summary['run_id']
  assert os.path.dirname(path) == str(e2e_run.output / 'reports')
  assert os.path.basename(path) == re.sub(r'[^A-Za-z0-9._-]', '-',
                                          run_id) + '.html'
  from pipeline import report as run_report  # pylint: disable=g-import-not-at-top
  assert f'report: {path}' in run_report.render(e2e_run.summary)


def test_report_shows_the_runs_numbers(e2e_run, report):
  _, text = report
  summary = e2e_run.summary
  assert '%.4g' % summary['metrics']['Overall']['auc'] in text
  for split, rows in summary['rows_per_split'].items():
    assert f'{split} {rows:,}' in text
  assert summary['push']['version'] in text
  assert 'None: every split matches the schema.' in text
  assert 'No baseline' in text  # the first blessed model
  for heading in ('Data', 'Training', 'Evaluation', 'Lineage'):
    assert f'<h2>{heading}' in text


def test_report_has_three_real_plots_and_loads_nothing(report):
  _, text = report
  svgs = re.findall(r'<svg.*?</svg>', text, flags=re.S)
  titles = [re.search(r'<title>(.*?)</title>', s).group(1) for s in svgs]
  for wanted in ('ROC curve', 'Precision-recall curve', 'Calibration'):
    assert wanted in titles
    svg = svgs[titles.index(wanted)]
    model_path = [p for p in re.findall(r'<path d="([^"]+)"[^>]*><title>'
                                        r'model', svg)]
    assert model_path, wanted
    assert model_path[0].count('L') >= 5, wanted  # a curve, not a stub
  assert not re.search(r'https?://', text)
  assert not re.search(r'<(script|link|img|iframe)\b', text)
  assert not re.search(r'url\(', text)


@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason='needs Debian chromium (apt-get install chromium) '
                    'to render the report')
def test_report_renders_in_a_browser(report, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path, _ = report
  png = tmp_path / 'report.png'
  profile = tempfile.mkdtemp(dir=tmp_path)
  proc = subprocess.run(
      [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
       '--disable-background-networking', '--disable-component-update',
       '--disable-sync', '--no-first-run', f'--user-data-dir={profile}',
       f'--screenshot={png}', '--window-size=1200,2400', f'file://{path}'],
      capture_output=True, text=True, timeout=120)
  assert png.exists(), proc.stderr[-2000:]
  image = Image.open(png).convert('RGB')
  colors = image.getcolors(maxcolors=1 << 20)
  assert colors and len(colors) > 50  # text, tables and curves, not blank
  # The curves are drawn in the model colour (#1f5fa8): it must be on screen.
  assert any(rgb == (0x1f, 0x5f, 0xa8) for _, rgb in colors)
