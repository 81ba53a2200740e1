"""MLflow and DVC for real: a real `mlflow server`, a real git + DVC repository.

One module, one server (SQLite backend, artifacts under the test's folder,
on loopback, started from the MLflow/DVC venv, `make mlflow-env`), one
repository holding two revisions of the data (`dvc add`, commit, tag,
`dvc push` to a local remote, the local cache then removed so the data can
only come from the remote), and the two cheapest pipeline runs on them:
`v1` without any MLflow flag (nothing is sent), `v2` with
`--mlflow-tracking-uri` (logged as it finishes). `mlflow-sync` then copies
the first and finds the second; a second sync creates nothing; a
promotion moves the aliases. Everything is read back through MLflow's REST
API, and the run's page is opened in headless Chromium. The server starts
while the first run trains.

Missing tools skip here and fail under CI=true (tests/ci_no_skip.py),
where .ci/run installs them.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from pipeline import paths as project_paths
from tests.conftest import REPO, cli_in_process

pytestmark = pytest.mark.e2e

CHROMIUM = '/usr/bin/chromium'
MLFLOW = os.path.join(project_paths.TOOLS_VENV, 'bin', 'mlflow')
# The cheapest run that pushes (tests/pipeline/test_output_lock.py's size);
# the gates open so both revisions push a model.
RUN_ARGS = ['--no-tune', '--train-steps', '10', '--min-auc', '0',
            '--max-auc-regression', '1', '--json']
DATA = 'data/complaints.csv'

# Run in the DVC venv: a git repository, DVC in it with a local remote, one
# commit and tag per revision, each pushed; then the local cache removed.
_MAKE_REPO = r'''
import json, os, shutil, subprocess, sys
from dvc.repo import Repo
root, remote, revisions = json.loads(sys.argv[1])
def git(*args):
    subprocess.run(["git", "-C", root, *args], check=True, capture_output=True)
os.makedirs(os.path.join(root, "data"))
git("init", "-q")
git("config", "user.email", "test@example.com")
git("config", "user.name", "test")
repo = Repo.init(root)
with repo.config.edit() as conf:
    conf["remote"] = {"local": {"url": remote}}
    conf["core"] = {"remote": "local"}
target = os.path.join(root, "data", "complaints.csv")
for tag, source in revisions:
    shutil.copy(source, target)
    repo.add(target)
    git("add", "-A")
    git("commit", "-q", "-m", "export " + tag)
    git("tag", tag)
    repo.push()
shutil.rmtree(os.path.join(root, ".dvc", "cache"))
'''


def _needs_tools():
  if not os.access(MLFLOW, os.X_OK):
    pytest.skip('needs the MLflow/DVC venv (make mlflow-env)')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class Server:
  """`mlflow server` as a child process group, and REST calls to it."""

  def __init__(self, folder):
    self.folder = folder
    self.uri = f'http://127.0.0.1:{_free_port()}'
    self.log = folder / 'server.log'
    with open(self.log, 'w', encoding='utf-8') as log:
      self.proc = subprocess.Popen(
          [MLFLOW, 'server', '--host', '127.0.0.1', '--port',
           self.uri.rsplit(':', 1)[1], '--workers', '1',
           '--backend-store-uri', f'sqlite:///{folder}/mlflow.db',
           '--artifacts-destination', str(folder / 'artifacts')],
          stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
          # No job runner (huey consumers): nothing here uses it.
          env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION='false'))

  def wait(self, timeout: float = 300.0) -> None:
    """Until the server answers (its own health check)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
      if self.proc.poll() is not None:
        raise AssertionError('mlflow server ended: '
                             + self.log.read_text()[-3000:])
      try:
        with urllib.request.urlopen(self.uri + '/health', timeout=5):
          return
      except OSError:
        time.sleep(0.3)
    raise AssertionError('mlflow server did not answer: '
                         + self.log.read_text()[-3000:])

  def get(self, endpoint: str, **query):
    url = f'{self.uri}/api/2.0/mlflow/{endpoint}?' + urllib.parse.urlencode(
        query)
    with urllib.request.urlopen(url, timeout=30) as response:
      return json.load(response)

  def post(self, endpoint: str, body):
    request = urllib.request.Request(
        f'{self.uri}/api/2.0/mlflow/{endpoint}', json.dumps(body).encode(),
        {'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=30) as response:
      return json.load(response)

  def stop(self) -> None:
    os.killpg(self.proc.pid, signal.SIGTERM)  # the server and its workers
    try:
      self.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
      os.killpg(self.proc.pid, signal.SIGKILL)
      self.proc.wait()


def _make_repo(work):
  from data import generate  # pylint: disable=g-import-not-at-top
  exports = [(tag, generate.ensure_generated(500, seed, str(work / tag))
              .export_csv) for tag, seed in (('v1', 1), ('v2', 2))]
  repo = work / 'repo'
  subprocess.run(
      [project_paths.TOOLS_PYTHON, '-c', _MAKE_REPO, json.dumps(
          [str(repo), str(work / 'remote'), exports])],
      check=True, capture_output=True, timeout=300,
      env=dict(os.environ, DVC_NO_ANALYTICS='1'))
  return repo


def _run(output, repo, rev, *extra):
  proc = cli_in_process('run', '--output', output, '--data-repo', repo,
                        '--data-rev', rev, '--data', DATA, *RUN_ARGS, *extra)
  assert proc.returncode == 0, proc.stderr[-3000:]
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  return summary_text.parse_json_summary(proc.stdout), proc.stderr


@pytest.fixture(scope='module')
def world(tmp_path_factory):
  """The server, the repository, and the two runs (v1 quiet, v2 logged)."""
  _needs_tools()
  work = tmp_path_factory.mktemp('mlflow_dvc')
  (work / 'mlflow').mkdir()
  server = Server(work / 'mlflow')
  try:
    repo = _make_repo(work)
    output = work / 'output'
    first, _ = _run(output, repo, 'v1')   # while the server starts
    server.wait()
    second, stderr = _run(output, repo, 'v2', '--mlflow-tracking-uri',
                          server.uri)
    yield {'server': server, 'repo': repo, 'output': output,
           'runs': [first, second], 'stderr': stderr,
           'before_sync': _runs(server)}
  finally:
    server.stop()


@pytest.fixture(scope='module')
def synced(world):
  """`mlflow-sync` twice: what each call reported, and the registered
  versions then ({TF Serving version: MLflow version})."""
  argv = ['mlflow-sync', '--output', world['output'],
          '--mlflow-tracking-uri', world['server'].uri, '--json']
  calls = []
  for _ in range(2):
    proc = cli_in_process(*argv)
    assert proc.returncode == 0, proc.stderr
    calls.append({r['run_id']: r for r in json.loads(proc.stdout)})
  versions = world['server'].get(
      'model-versions/search', filter="name = 'complaints'")['model_versions']
  return calls, {next(t['value'] for t in v['tags']
                      if t['key'] == 'serving_version'): v['version']
                 for v in versions}


def _experiment(server):
  return server.get('experiments/get-by-name',
                    experiment_name='consumer_complaints')['experiment']


def _runs(server):
  found = server.post('runs/search', {
      'experiment_ids': [_experiment(server)['experiment_id']],
      'max_results': 100})
  return {next(t['value'] for t in r['data']['tags']
               if t['key'] == 'mlmd.run_id'): r
          for r in found.get('runs', [])}


def _git(repo, *args) -> str:
  return subprocess.run(['git', '-C', str(repo), *args], check=True,
                        capture_output=True, text=True).stdout.strip()


def test_the_lineage_names_both_data_revisions_in_dvc_terms(world):
  repo = world['repo']
  for rev, summary in zip(('v1', 'v2'), world['runs']):
    assert summary['push']['pushed'], summary
    proc = cli_in_process('lineage', '--output', world['output'],
                          '--version', summary['push']['version'], '--json')
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)['data']
    [source] = data['sources']
    dvc_file = yaml.safe_load(_git(repo, 'show', f'{rev}:{DATA}.dvc'))
    assert source['rev'] == rev and source['path'] == DATA
    assert source['repo'] == str(repo)
    assert source['commit'] == _git(repo, 'rev-parse', f'{rev}^{{commit}}')
    assert source['dvc_md5'] == dvc_file['outs'][0]['md5']
    assert source['dvc_file'] == f'{DATA}.dvc'
    # The span is the file's content: its sha256 is the converted span's,
    # the source's the export's as DVC holds it.
    assert data['span'] == int(rev[1])
    assert len(source['sha256']) == 64 and source['sha256'] != data['sha256']
    text = cli_in_process('lineage', '--output', world['output'], '--version',
                          summary['push']['version']).stdout
    assert f'dvc: {DATA} at {rev} (commit {source["commit"][:12]})' in text
    with open(summary['model_card'], encoding='utf-8') as f:
      card = f.read()
    assert (f'Read with DVC: `{DATA}` at revision `{rev}` (commit '
            f'{source["commit"][:12]})') in card
    assert source['dvc_md5'] in card


def test_nothing_is_sent_unless_asked_and_run_logs_as_it_goes(world):
  first, second = world['runs']
  runs = world['before_sync']
  assert list(runs) == [second['run_id']]  # v1 ran without a flag
  assert first['run_id'] not in runs
  assert f"mlflow: run {second['run_id']} logged" in world['stderr']
  run = runs[second['run_id']]
  assert run['info']['run_name'] == second['run_id']
  assert run['info']['status'] == 'FINISHED'
  tags = {t['key']: t['value'] for t in run['data']['tags']}
  assert tags['blessed'] == 'true' and tags['data_rev'] == 'v2'
  assert tags['pushed_version'] == second['push']['version']
  assert tags['baseline'] == first['push']['version']
  params = {p['key']: p['value'] for p in run['data']['params']}
  assert params['data.source.rev'] == 'v2'
  assert params['config.train_steps'] == '10'
  assert params['stack.tfx'] and params['hparams.learning_rate']


def test_mlflow_sync_copies_past_runs_once(world, synced):
  server, (first, second) = world['server'], world['runs']
  (once, again), versions = synced
  assert once[first['run_id']]['created'] is True
  assert once[second['run_id']]['created'] is False
  assert not any(r['created'] for r in again.values())
  runs = _runs(server)
  assert sorted(runs) == sorted([first['run_id'], second['run_id']])
  for summary in (first, second):
    run = runs[summary['run_id']]
    metrics = {m['key']: m['value'] for m in run['data']['metrics']}
    overall = summary['metrics']['Overall']
    assert metrics['auc'] == pytest.approx(overall['auc'])
    assert metrics['auc_ci95_lower'] == pytest.approx(overall['auc_ci95'][0])
    assert metrics['auc_ci95_upper'] == pytest.approx(overall['auc_ci95'][1])
    assert any(k.startswith('slice/product:') for k in metrics)
    # The training curve, as steps.
    history = server.get('metrics/get-history', run_id=run['info']['run_id'],
                         metric_key='training/loss')['metrics']
    assert len(history) >= 2 and history[0]['step'] < history[-1]['step']
    listed = server.get('artifacts/list', run_id=run['info']['run_id'])
    names = {f['path'] for f in listed['files']}
    assert {'lineage.json', 'model_card.md', 'report', 'model'} <= names
  # Each pushed model is a version of the registered model, once.
  assert sorted(versions) == sorted([first['push']['version'],
                                     second['push']['version']])
  model = server.get('artifacts/list', run_id=runs[second['run_id']]['info'][
      'run_id'], path='model')
  assert 'model/saved_model.pb' in {f['path'] for f in model['files']}


def test_promote_mirrors_the_servers_labels_as_aliases(world, synced):
  server, (first, second) = world['server'], world['runs']
  _, versions = synced
  from serving import server_config  # pylint: disable=g-import-not-at-top
  config = world['output'] / 'models.config'
  old, new = int(first['push']['version']), int(second['push']['version'])
  server_config.write_model_server_config(str(config), [{
      'name': 'complaints',
      'base_path': str(world['output'] / 'serving' / 'complaints'),
      'versions': [old, new], 'labels': {'stable': old, 'canary': new}}])
  proc = subprocess.run(
      [sys.executable, '-m', 'serving.promote', '--model_config_file',
       str(config), '--mlflow-tracking-uri', server.uri],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  for alias in ('stable', 'canary'):
    found = server.get('registered-models/alias', name='complaints',
                       alias=alias)['model_version']
    assert found['version'] == versions[str(new)], alias
  assert f"stable -> version {versions[str(new)]}" in proc.stdout



def test_aliases_follow_the_labels_exactly_on_the_real_registry(world,
                                                                 synced):
  """Both labels (an A/B test), then only stable (the canary's test is
  over: its alias goes), then a serving version MLflow does not hold (no
  alias moves, one line says to sync): read back from the server."""
  import urllib.error  # pylint: disable=g-import-not-at-top
  from pipeline.tracking import mlflow_registry, mlflow_rest  # pylint: disable=g-import-not-at-top
  server, (first, second) = world['server'], world['runs']
  _, versions = synced
  old, new = int(first['push']['version']), int(second['push']['version'])
  client = mlflow_rest.Client(server.uri)

  def alias(name):
    try:
      return server.get('registered-models/alias', name='complaints',
                        alias=name)['model_version']['version']
    except urllib.error.HTTPError as error:  # MLflow 3: 400, "... not found"
      body = json.loads(error.read())
      assert error.code in (400, 404) and 'not found' in body['message'], body
      return None
  assert mlflow_registry.mirror_labels(
      client, 'complaints', {'stable': old, 'canary': new}) == {
          'stable': versions[str(old)], 'canary': versions[str(new)]}
  assert (alias('stable'), alias('canary')) == (versions[str(old)],
                                                versions[str(new)])
  assert mlflow_registry.mirror_labels(
      client, 'complaints', {'stable': new}) == {'stable': versions[str(new)]}
  assert (alias('stable'), alias('canary')) == (versions[str(new)], None)
  unknown = max(old, new) + 1
  moved = mlflow_registry.mirror_labels(client, 'complaints',
                                        {'stable': unknown})
  assert moved == {'stable': None}
  assert alias('stable') == versions[str(new)]   # not moved
  assert 'run `python -m pipeline mlflow-sync` first' in (
      mlflow_registry.missing_line('complaints', moved, {'stable': unknown}))

def test_the_run_page_renders_in_chromium(world):
  if not os.path.exists(CHROMIUM):
    pytest.skip('needs Debian chromium (apt-get install chromium)')
  server, second = world['server'], world['runs'][1]
  run = _runs(server)[second['run_id']]
  experiment = run['info']['experiment_id']
  auc = next(m['value'] for m in run['data']['metrics'] if m['key'] == 'auc')
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  with sync_playwright() as manager:
    browser = manager.chromium.launch(
        executable_path=CHROMIUM,
        args=['--no-sandbox', '--disable-gpu', '--no-first-run',
              '--disable-background-networking', '--disable-sync',
              '--disable-component-update'])
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.goto(f"{server.uri}/#/experiments/{experiment}/runs/"
              f"{run['info']['run_id']}", timeout=120_000)
    page.get_by_text(second['run_id']).first.wait_for(timeout=120_000)
    # The metrics table: the overall AUC's value (its first four decimals).
    row = page.get_by_role('row').filter(has_text=str(auc)[:6])
    row.first.wait_for(timeout=60_000)
    assert 'auc' in row.first.inner_text()
    assert second['run_id'] in page.content()
    browser.close()
