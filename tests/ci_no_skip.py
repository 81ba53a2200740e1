"""pytest plugin: under CI=true a skipped test is a failure.

A skip says "this could not be checked here", which is fine on a laptop
without Chromium but wrong in CI, whose job is to check everything: the HTML
report's browser test skipped silently there for as long as CI existed,
because nothing installed Chromium. With CI=true (set by `.ci/run` and by
most CI services) every skip -- a skip mark, `pytest.skip()` in a test or
fixture, a module-level skip -- is reported as a failure that keeps the skip's
reason. Expected failures (xfail) are not skips and are left alone.

Load it with `-p tests.ci_no_skip` (the Makefile's `test` recipe does).
"""

import os

import pytest

_TRUE = ('1', 'true', 'yes')


def ci_enabled() -> bool:
  """True when the CI variable says this run is CI (true, 1 or yes)."""
  return os.environ.get('CI', '').strip().lower() in _TRUE


def _fail_skip(report) -> None:
  """Turns a skipped report into a failed one that says why it skipped."""
  reason = report.longrepr
  if isinstance(reason, tuple):  # (path, line, 'Skipped: <reason>')
    reason = '%s:%s: %s' % reason
  report.outcome = 'failed'
  report.longrepr = ('skipped under CI=%s, where every test must run: %s' %
                     (os.environ.get('CI'), reason))


def _is_skip(report) -> bool:
  """A real skip, not an expected failure (xfail reports as skipped too)."""
  return report.skipped and not hasattr(report, 'wasxfail')


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # pylint: disable=unused-argument
  """Skips in a test's setup, call or teardown become failures under CI."""
  report = yield
  if ci_enabled() and _is_skip(report):
    _fail_skip(report)
  return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):  # pylint: disable=unused-argument
  """A module skipped at import (e.g. importorskip) fails collection."""
  report = yield
  if ci_enabled() and _is_skip(report):
    _fail_skip(report)
  return report
