"""Shared fixtures: one real pipeline run, reused by the pipeline and serving tests.

The shared runs are read-only for the tests: a test that writes into a run's
output (a new span, a monitor window, a report) works on a copy
(`copy_output`), so no test sees what another wrote, in any order.
"""

# The stack's settings (TF_USE_LEGACY_KERAS=1 for TFX 1.16) must be in place
# before any test module imports TensorFlow: components/__init__ sets them.
import components  # noqa: F401  pylint: disable=unused-import

import dataclasses  # pylint: disable=g-import-not-at-top,wrong-import-position
import itertools
import pathlib
import shutil
import subprocess
import sys
from typing import Callable, Optional

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
E2E_ROWS = 4000
E2E_ARGS = ['--rows', str(E2E_ROWS), '--no-tune', '--train-steps', '150',
            '--json']


@dataclasses.dataclass
class PipelineRun:
  output: pathlib.Path
  returncode: int
  summary: dict
  stdout: str
  stderr: str
  model_name: str = 'complaints'
  # e2e_run only: the same command again into the same output (cached).
  rerun: Optional['PipelineRun'] = None

  @property
  def serving_dir(self) -> pathlib.Path:
    return self.output / 'serving'


def run_pipeline(output, *extra) -> PipelineRun:
  """Runs `python -m pipeline run` as a user would; parses its JSON summary."""
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--output', str(output),
       *E2E_ARGS, *extra],
      cwd=REPO, capture_output=True, text=True, timeout=1500)
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  summary = summary_text.parse_json_summary(proc.stdout)
  return PipelineRun(pathlib.Path(output), proc.returncode, summary,
                     proc.stdout, proc.stderr)


def cli_in_process(*argv: str) -> subprocess.CompletedProcess:
  """`python -m pipeline ARGV` in this process, as a CompletedProcess.

  For the commands a test calls many times: TensorFlow and TFX are imported
  once per test session instead of once per call (several seconds each).
  The first call of a test file as a user runs it stays a subprocess.
  """
  import contextlib  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse's own errors
      code = exit_.code
  return subprocess.CompletedProcess(['python', '-m', 'pipeline', *argv],
                                     code, out.getvalue(), err.getvalue())


def copy_output(output: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
  """A copy of a run's output to write into: folder/output."""
  copy = pathlib.Path(folder) / 'output'
  shutil.copytree(output, copy)
  return copy


# The session's shared pipeline runs. `make test` runs two pytest-xdist
# workers; each run is made once for both (made_once_pickled), and a test
# that uses one is e2e.
SHARED_RUNS = ('e2e_run', 'gate_stopped')


def _uses_a_shared_run(item) -> bool:
  return any(name in item.fixturenames for name in SHARED_RUNS)


def pytest_itemcollected(item):
  """Tests of a shared run are e2e (never in `make test-fast`), marked as
  each is collected: `-m "not e2e"` deselects in pytest's own
  pytest_collection_modifyitems, which runs before the trylast one below,
  so a marker added there came too late and a file that relied on it (one
  that names no e2e mark itself) ran its pipeline run in the fast tier."""
  if _uses_a_shared_run(item):
    item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
  """The files ordered for `-n 2 --dist loadfile --no-loadscope-reorder`.

  loadfile hands whole files to the workers (a module's fixtures: a
  MariaDB server, an Airflow home, a loop, made once), in this order. The
  files of the shared runs alternate with the others, starting with one of
  each: the first worker makes the e2e run while the second works through
  files that need none, instead of waiting for it; among the others, the
  files with a pipeline run of their own come first. Otherwise the order
  stays pytest-randomly's shuffle (the same on every worker, which xdist
  requires).
  """
  files = {}  # file -> its items, in the order first seen
  for item in items:
    files.setdefault(item.nodeid.split('::')[0], []).append(item)
  shared = [f for f, found in files.items() if any(map(_uses_a_shared_run,
                                                         found))]
  # Files with a pipeline run of their own (marked e2e: the Airflow DAG,
  # the loop, MariaDB, the notebooks, ...) before the quick ones, so the
  # long ones start early and the quick ones fill the end (longest first).
  others = sorted((f for f in files if f not in shared),
                  key=lambda f: not any(item.get_closest_marker('e2e')
                                        for item in files[f]))
  order = []
  for pair in itertools.zip_longest(shared, others):
    order += [f for f in pair if f is not None]
  items[:] = [item for f in order for item in files[f]]


def made_once_pickled(request, tmp_path_factory, name: str,
                      make: Callable[[pathlib.Path], object]):
  """make(folder) once per test session, for every xdist worker: a shared
  pipeline run, a Transform output, a served model.

  The first worker to ask makes it under an exclusive lock in the
  session's shared temporary folder and records its value (picklable;
  files it names stay in folder, read-only for the tests) as a pickle;
  the other waits on the lock and reads the record, so either may ask
  first. Without xdist: made here."""
  if not hasattr(request.config, 'workerinput'):
    return make(tmp_path_factory.mktemp(name))
  import fcntl  # pylint: disable=g-import-not-at-top
  import pickle  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.getbasetemp().parent  # pytest-N, all workers'
  record = root / f'{name}.pickle'
  with open(root / f'{name}.lock', 'w', encoding='utf-8') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if record.exists():
      return pickle.loads(record.read_bytes())
    # A folder of its own: a make that failed leaves nothing in its way.
    value = make(pathlib.Path(tempfile.mkdtemp(prefix=name, dir=root)))
    record.write_bytes(pickle.dumps(value))
    return value


@pytest.fixture(scope='session')
def e2e_run(request, tmp_path_factory) -> PipelineRun:
  """The first run, then the same command again into the same output.

  The rerun is part of the shared state on purpose: whether it is fully
  cached can only be seen in the same folder (the cache keys hold the
  output's paths), and every test then sees the same two runs, whatever
  the order it runs in.
  """
  def make(folder):
    run = run_pipeline(folder)
    if run.returncode == 0:
      run.rerun = run_pipeline(run.output)
    return run
  run = made_once_pickled(request, tmp_path_factory, 'e2e', make)
  assert run.returncode == 0, run.stderr[-3000:]
  return run


def write_bad_export(rows: int, seed: int, folder) -> pathlib.Path:
  """A generated export with one anomaly of each kind the curated schema
  raises, and one it tolerates:

  - half the products are 'Crypto asset', outside product's closed
    vocabulary (not a CFPB product of 2015-2017; the product mix drifts);
  - 'Timely response?' is empty on every tenth row, a required column
    (presence 1.0) missing;
  - every fifth row tagged 'Veteran', unknown values above the 5% that
    tags' min_domain_mass 0.95 tolerates;
  - every fiftieth row in state 'ZZ': 2% unknown states, tolerated.
  """
  import csv  # pylint: disable=g-import-not-at-top
  from data import generate  # pylint: disable=g-import-not-at-top
  good = generate.ensure_generated(rows, seed, str(folder)).export_csv
  bad = pathlib.Path(folder) / 'bad.csv'
  with open(good, newline='', encoding='utf-8') as src, open(
      bad, 'w', newline='', encoding='utf-8') as dst:
    records = list(csv.DictReader(src))
    writer = csv.DictWriter(dst, fieldnames=list(records[0]))
    writer.writeheader()
    for i, record in enumerate(records):
      if i % 2:
        record['Product'] = 'Crypto asset'
      if i % 10 == 3:
        record['Timely response?'] = ''
      if i % 5 == 4:
        record['Tags'] = 'Veteran'
      if i % 50 == 7:
        record['State'] = 'ZZ'
      writer.writerow(record)
  return bad


@pytest.fixture(scope='session')
def gate_stopped(request, e2e_run, tmp_path_factory) -> PipelineRun:
  """A copy of the e2e output plus a run of write_bad_export's data, which
  the data gate stops after StatisticsGen: statistics but no model."""
  def make(work):
    output = copy_output(e2e_run.output, work)
    return run_pipeline(output, '--data',
                        str(write_bad_export(1000, 11, work)))
  return made_once_pickled(request, tmp_path_factory, 'gate', make)


def pytest_terminal_summary(terminalreporter, config):
  """The order's seed, also under -q (which hides pytest-randomly's header):
  a failure that depends on the order can then be repeated."""
  seed = getattr(config.option, 'randomly_seed', None)
  if isinstance(seed, int) and config.pluginmanager.hasplugin('randomly'):
    terminalreporter.write_line(
        f'test order: --randomly-seed={seed} (make test '
        f'PYTEST_ARGS=--randomly-seed={seed} repeats it)')
