"""The run's self-contained HTML report, as the e2e run wrote it."""

import os
import re

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
  from pipeline.reports import summary_text as run_report  # pylint: disable=g-import-not-at-top
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


def _browser():
  """Debian's chromium through Playwright (never a downloaded browser).

  Missing chromium skips here and fails in CI (tests/ci_no_skip.py), where
  .ci/run installs it.
  """
  if not os.path.exists(CHROMIUM):
    pytest.skip('needs Debian chromium (apt-get install chromium)')
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  manager = sync_playwright().start()
  browser = manager.chromium.launch(
      executable_path=CHROMIUM,
      args=['--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run'])
  return manager, browser


@pytest.fixture(scope='module')
def browser():
  manager, chromium = _browser()
  yield chromium
  chromium.close()
  manager.stop()


def _open(browser, url):
  """A page at url that records every request it makes."""
  page = browser.new_page(viewport={'width': 1200, 'height': 900})
  page.requests = []
  page.on('request', lambda request: page.requests.append(request.url))
  page.goto(url)
  return page


def test_report_renders_in_a_browser(browser, report, e2e_run):
  path, _ = report
  page = _open(browser, f'file://{path}')
  assert page.title() == f"Run {e2e_run.summary['run_id']}"
  # Every chart is laid out with its full size, not collapsed or hidden.
  plots = page.locator('svg.plot')
  assert plots.count() >= 4  # training loss, ROC, precision-recall, calibration
  for i in range(plots.count()):
    box = plots.nth(i).bounding_box()
    assert box and box['width'] >= 300 and box['height'] >= 250, box
  titles = [plots.nth(i).locator('title').first.text_content()
            for i in range(plots.count())]
  assert {'ROC curve', 'Precision-recall curve', 'Calibration'} <= set(titles)
  # The metrics table shows the overall AUC the summary reported.
  # The metrics table's row whose first cell is the slice name.
  overall = page.locator('xpath=//tr[td[1][normalize-space()="Overall"]]')
  assert overall.first.is_visible()
  auc = '%.4g' % e2e_run.summary['metrics']['Overall']['auc']
  assert auc in overall.first.inner_text()
  assert all(url.startswith('file://') for url in page.requests), page.requests
  png = page.screenshot(full_page=True)
  assert len(png) > 50_000  # text, tables and curves, not a blank page
  page.close()


def test_run_index_lists_the_run_and_its_links_resolve(browser, e2e_run):
  index = e2e_run.summary['index']
  assert index == str(e2e_run.output / 'reports' / 'index.html')
  page = _open(browser, f'file://{index}')
  row = page.locator('table#runs tr', has_text=e2e_run.summary['run_id'])
  assert row.count() == 1 and row.is_visible()
  text = row.inner_text()
  assert 'complete' in text and e2e_run.summary['push']['version'] in text
  links = row.locator('a')
  assert [links.nth(i).inner_text() for i in range(links.count())] == [
      'report', 'model card']
  with page.expect_navigation():
    row.locator('a', has_text='report').click()
  assert page.locator('h1').inner_text() == (
      f"Run {e2e_run.summary['run_id']}")
  page.go_back()
  card = page.locator('table#runs tr', has_text=e2e_run.summary['run_id']
                      ).locator('a', has_text='model card')
  with page.expect_navigation():
    card.click()
  assert '# Model card: complaints' in page.locator('body').inner_text()
  assert all(url.startswith('file://') for url in page.requests), page.requests
  page.close()
