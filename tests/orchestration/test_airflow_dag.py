"""The Airflow DAG run for real: `airflow dags test complaints_loop`, twice.

Airflow 3 in its own venv (`make airflow-env`, installed by .ci/run; made
here when missing, never skipped), its own SQLite database in a temporary
AIRFLOW_HOME, the DAG's tasks running the project's CLI in this venv.

1. A first DAG run on 1,500 generated complaints trains and pushes a model,
   serves it traffic of a product shift (the bulk client through the real
   model server), whose monitor alerts: the branch takes feedback ->
   retrain, `healthy` is skipped, and the retrained model is pushed with the
   feedback span (exactly the served complaints) in its lineage.
2. A second DAG run sends more of the same shift to the retrained model:
   it no longer alerts, the branch takes `healthy`, feedback and retrain are
   skipped, and nothing new is pushed (train is cached).
"""

import json
import os
import pathlib
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO, cli_in_process

AIRFLOW = REPO / '.venv-airflow' / 'bin' / 'airflow'
DAG_ID = 'complaints_loop'
RUN_ARGS = '--rows 1500 --no-tune --train-steps 100 --min-auc 0.55'
BRANCH_TASKS = {'feedback', 'retrain'}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def airflow_env(tmp_path_factory):
  made = subprocess.run(['make', '-s', 'airflow-env'], cwd=REPO,
                        capture_output=True, text=True)
  assert made.returncode == 0 and AIRFLOW.exists(), (
      'make airflow-env failed (Python 3.11 with venv needed: apt-get '
      f'install python3.11 python3.11-venv):\n{made.stdout[-1500:]}'
      f'{made.stderr[-1500:]}')
  home = tmp_path_factory.mktemp('airflow_home')
  env = dict(os.environ, AIRFLOW_HOME=str(home),
             AIRFLOW__CORE__DAGS_FOLDER=str(
                 REPO / 'orchestration' / 'airflow' / 'dags'),
             AIRFLOW__CORE__LOAD_EXAMPLES='False',
             COMPLAINTS_PYTHON=sys.executable)
  env.pop('PYTHONPATH', None)  # Airflow's interpreter, not this venv's path
  _airflow(env, 'db', 'migrate')
  _airflow(env, 'dags', 'reserialize')  # the DAG in Airflow's DB: list-runs
  return env


def _airflow(env, *args) -> str:
  done = subprocess.run([str(AIRFLOW), *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, (f'airflow {" ".join(args[:2])} exited '
                                f'{done.returncode}:\n{done.stdout[-3000:]}'
                                f'\n{done.stderr[-3000:]}')
  return done.stdout


def _json_lines(text: str):
  """The JSON a CLI printed (Airflow may print warnings before it), or None."""
  found = [line for line in text.splitlines() if line.startswith(('[', '{'))]
  return json.loads(found[-1]) if found else None


def _dag_run(env, conf) -> dict:
  """One `airflow dags test`, then every task's state from Airflow's DB."""
  before = {r['run_id'] for r in _runs(env)}
  _airflow(env, 'dags', 'test', DAG_ID, '--conf', json.dumps(conf))
  (run,) = [r for r in _runs(env) if r['run_id'] not in before]
  assert run['state'] == 'success', run
  states = _json_lines(_airflow(env, 'tasks', 'states-for-dag-run', DAG_ID,
                                run['run_id'], '-o', 'json'))
  return {s['task_id']: s['state'] for s in states}


def _runs(env):
  # No run yet: "No data found", no JSON.
  return _json_lines(_airflow(env, 'dags', 'list-runs', DAG_ID, '-o',
                              'json')) or []


def _traffic(folder: pathlib.Path, rows: int, seed: int, span: int) -> str:
  from data import generate  # pylint: disable=g-import-not-at-top
  export, _ = generate.generate(rows, seed, scenario='product_shift',
                                span=span)
  path = folder / f'traffic-span{span}.csv'
  export.to_csv(path, index=False)
  return str(path)


def _versions(output: pathlib.Path):
  return sorted(p.name for p in (output / 'serving' / 'complaints').iterdir()
                if p.name.isdigit())


def _lineage(output: pathlib.Path, version: str) -> dict:
  done = cli_in_process('lineage', '--output', output, '--version', version,
                        '--json')
  assert done.returncode == 0, done.stderr
  return json.loads(done.stdout)


def test_alert_retrains_then_healthy_window_retrains_nothing(
    airflow_env, tmp_path):
  output = tmp_path / 'out'
  shifted = _traffic(tmp_path, 1500, seed=7, span=2)
  conf = {'output': str(output), 'run_args': RUN_ARGS}

  states = _dag_run(airflow_env, dict(conf, traffic=shifted))
  assert states == {'train': 'success', 'serve_traffic': 'success',
                    'monitor': 'success', 'decide': 'success',
                    'feedback': 'success', 'retrain': 'success',
                    'healthy': 'skipped', 'report': 'success'}
  first, retrained = _versions(output)   # two pushes, one per training
  assert _lineage(output, first)['data']['span'] == 1
  data = _lineage(output, retrained)['data']
  assert data['span'] == 2
  span_file = output / 'input' / 'span-2' / 'complaints.csv'
  assert [f['path'] for f in data['files']] == [str(span_file)]
  # The feedback span is the served traffic, every complaint once.
  served_ids = set(pd.read_csv(shifted, dtype=str)['Complaint ID'])
  assert set(pd.read_csv(span_file, dtype=str)['complaint_id']) == served_ids

  states = _dag_run(airflow_env, dict(conf, traffic=_traffic(
      tmp_path, 1000, seed=8, span=3)))
  assert states['healthy'] == 'success'
  assert {states[t] for t in BRANCH_TASKS} == {'skipped'}
  assert {states[t] for t in states.keys() - BRANCH_TASKS - {'healthy'}} == {
      'success'}
  assert _versions(output) == [first, retrained]   # nothing new pushed
  assert not (output / 'input' / 'span-3').exists()


def test_the_dag_runs_another_data_set_by_its_spec(airflow_env, tmp_path):
  """The penguins through the same DAG (`dataset` param): trained on the
  spec's own CSV, then sent only the Biscoe island's penguins, a shift of
  the island's mix the monitor must flag; their labels (the rows
  themselves: the spec has no ID) come back through the drop folder and
  become a feedback span in the spec's columns, keyed by the row key."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  spec = dataset_spec.load('penguins')
  rows = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  biscoe = rows[rows['island'] == 'Biscoe']
  traffic = tmp_path / 'biscoe.csv'
  biscoe.to_csv(traffic, index=False)
  output = tmp_path / 'penguins'
  states = _dag_run(airflow_env, {
      'output': str(output), 'dataset': 'penguins', 'traffic': str(traffic),
      'run_args': '--no-tune --train-steps 100 --min-auc 0'})
  assert states == {'train': 'success', 'serve_traffic': 'success',
                    'monitor': 'success', 'decide': 'success',
                    'feedback': 'success', 'retrain': 'success',
                    'healthy': 'skipped', 'report': 'success'}
  window = sorted((output / 'monitoring').glob('window-*/window.json'))
  alerts = json.loads(window[-1].read_text())['features']
  assert any(f['feature'] == 'island' and f['alert'] for f in alerts)
  span = pd.read_csv(output / 'input' / 'span-2' / 'rows.csv')
  assert len(span) == len(biscoe[biscoe['species'] != ''])
  assert list(span.columns) == [spec.join_key] + [
      f.key for f in spec.features] + [spec.label.key]
  assert set(span['island']) == {'Biscoe'}
