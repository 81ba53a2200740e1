"""complaints_loop: the model's life cycle on a schedule, as Airflow tasks.

    train -> serve_traffic -> monitor -> decide -+-> feedback -> retrain -+-> report
                                                 +-> healthy ------------+

- train: `pipeline run --from-input` on the input's latest span (the seed
  data on the first run); with nothing new every component is cached, so a
  daily run costs seconds;
- serve_traffic: only when `traffic` names a CSV (a demo, a test): serves
  the pushed model with request logging and sends it, outcomes dropped into
  the labels folder. In production leave it empty and point `logs` at the
  real server's request logs;
- monitor: `pipeline monitor` on the window's logs (exit 4: an alert);
- decide: the branch. An alert takes feedback -> retrain, a healthy window
  takes `healthy` and nothing is retrained;
- feedback: `pipeline feedback` joins the labels drop folder with the logs
  and writes a new span of the features as served;
- retrain: `pipeline run --from-input` on that span (with `--window N` in
  run_args: on the latest N spans), judged against the served model,
  pushed only if the judge blesses it;
- report: `pipeline lineage` of the model now served, whichever branch ran.

Every task runs the project's CLI in the project's venv (project_cli.py says
why); each has retries and an execution_timeout (the per-task SLA: a task
over it is stopped, its processes killed, and retried). Settings are DAG
params, given per run with `--conf` / "Trigger DAG w/ config"; defaults
come from COMPLAINTS_* environment variables (README.md next to this
folder). The `dataset` param (a shipped spec's name or a spec file) reaches
every command that reads the data: run, the traffic step, monitor, the
labels drop and feedback.
"""

import datetime
import json
import os
import shlex

import project_cli
from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

DEFAULT_OUTPUT = os.environ.get('COMPLAINTS_OUTPUT',
                                str(project_cli.REPO / 'runs' / 'airflow'))
MONITOR_ALERT = 4

# The per-task SLA: generous for a 50,000-row run with the Tuner (about
# 3 minutes here), so only a hung step reaches it.
TIMEOUTS = {
    'train': datetime.timedelta(minutes=60),
    'serve_traffic': datetime.timedelta(minutes=30),
    'monitor': datetime.timedelta(minutes=15),
    'feedback': datetime.timedelta(minutes=15),
    'retrain': datetime.timedelta(minutes=60),
    'report': datetime.timedelta(minutes=5),
    'decide': datetime.timedelta(minutes=1),
    'healthy': datetime.timedelta(minutes=1),
}


def _params() -> dict:
  return get_current_context()['params']


def _work_dir() -> str:
  """This DAG run's own folder under the output (labels, logs, copies)."""
  run_id = get_current_context()['run_id']
  safe = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in run_id)
  return os.path.join(_params()['output'], 'orchestration', safe)


def _labels_dir() -> str:
  return _params()['labels'] or os.path.join(_params()['output'],
                                             'labels_drop')


def _dataset() -> list:
  """The dataset spec option every command that reads the data takes."""
  return ['--dataset', _params()['dataset']]


def _pipeline_run() -> dict:
  """`pipeline run` on the input's latest span (the seed data on the first).

  With runs already in the output's ML Metadata, `--from-input` trains on
  the newest span there (the one `feedback` wrote, or the seed's: then every
  component is cached); a new output takes the seed data (`seed_data`, or
  the generated set) as its first span. Re-passing the seed later would
  write it again as a newer span and undo a retraining.
  """
  params = _params()
  runs = project_cli.run('pipeline', ['runs', '--output', params['output'],
                                      '--json'],
                         answers=(0, project_cli.EXIT_BAD_INPUT))
  if runs.code == 0 and json.loads(runs.stdout):
    data = ['--from-input']
  else:  # no ML Metadata there yet: the first run
    data = [arg for path in shlex.split(params['seed_data'])
            for arg in ('--data', path)]
  summary = json.loads(project_cli.run('pipeline', [
      'run', '--output', params['output'], *data, *_dataset(),
      *shlex.split(params['run_args']), '--json']).stdout)
  push = summary.get('push') or {}
  return {'span': summary.get('span'), 'blessed': summary.get('blessed'),
          'pushed_version': push.get('version') if push.get('pushed')
                            else None}


with DAG(
    dag_id='complaints_loop',
    description='train, monitor served traffic, feed labels back, retrain '
    'on an alert',
    schedule=os.environ.get('COMPLAINTS_SCHEDULE', '@daily'),
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    max_active_runs=1,  # two runs must not write one output folder at once
    default_args={'retries': 1,
                  'retry_delay': datetime.timedelta(minutes=2)},
    params={
        'output': Param(DEFAULT_OUTPUT, type='string',
                        description="the pipeline's --output"),
        'dataset': Param(os.environ.get('COMPLAINTS_DATASET', 'cfpb'),
                         type='string', description='the dataset spec: '
                         'cfpb, taxi, penguins, or a spec file (the seed '
                         "data defaults to the spec's)"),
        'logs': Param(os.environ.get('COMPLAINTS_LOGS', ''), type='string',
                      description="the model server's request logs of the "
                      'window (folder or glob); empty: serve_traffic\'s'),
        'labels': Param(os.environ.get('COMPLAINTS_LABELS', ''),
                        type='string', description='the labels drop folder '
                        '(empty: <output>/labels_drop)'),
        'traffic': Param('', type='string', description='a CSV to send '
                         'through the served model (demo/test); empty: none'),
        'seed_data': Param(os.environ.get('COMPLAINTS_SEED_DATA', ''),
                           type='string', description='export CSV(s) of the '
                           'first run (empty: the generated set)'),
        'run_args': Param(os.environ.get('COMPLAINTS_RUN_ARGS', ''),
                          type='string', description='more `pipeline run` '
                          'options, e.g. --no-tune --rows 5000'),
        'monitor_args': Param('', type='string', description='more '
                              '`pipeline monitor` options'),
    },
    tags=['complaints', 'tfx'],
) as dag:

  @task(execution_timeout=TIMEOUTS['train'])
  def train() -> dict:
    return _pipeline_run()

  @task(execution_timeout=TIMEOUTS['serve_traffic'])
  def serve_traffic() -> str:
    params = _params()
    if not params['traffic']:
      raise AirflowSkipException('no traffic CSV: the logs come from a '
                                 'real server')
    sent = json.loads(project_cli.run('orchestration.traffic', [
        '--output', params['output'], '--csv', params['traffic'],
        *_dataset(), '--work', os.path.join(_work_dir(), 'traffic'),
        '--labels-to', _labels_dir()]).stdout)
    return sent['request_logs']

  @task(execution_timeout=TIMEOUTS['monitor'],
        trigger_rule=TriggerRule.NONE_FAILED)
  def monitor() -> dict:
    params = _params()
    # A skipped serve_traffic pushed nothing: None, and the logs param rules.
    logs = params['logs'] or get_current_context()['ti'].xcom_pull(
        task_ids='serve_traffic')
    if not logs:
      raise AirflowFailException('no logs to monitor: set the logs param '
                                 'to the server\'s request logs')
    result = project_cli.run('pipeline', [
        'monitor', '--output', params['output'], '--logs', logs,
        *_dataset(), *shlex.split(params['monitor_args']), '--json'],
        answers=(0, MONITOR_ALERT))
    found = json.loads(result.stdout)
    return {'logs': logs, 'alert': result.code == MONITOR_ALERT,
            'alerted': sorted({f['feature'] for f in found['features']
                               if f['alert']}),
            'requests': found.get('requests')}

  @task.branch(execution_timeout=TIMEOUTS['decide'])
  def decide(window: dict) -> str:
    return 'feedback' if window['alert'] else 'healthy'

  @task(execution_timeout=TIMEOUTS['feedback'])
  def feedback(window: dict) -> dict:
    params = _params()
    merged = project_cli.run('orchestration.labels_drop', [
        _labels_dir(), '--out', os.path.join(_work_dir(), 'labels.csv'),
        *_dataset()]).stdout.strip()
    joined = json.loads(project_cli.run('pipeline', [
        'feedback', merged, '--logs', window['logs'], '--output',
        params['output'], *_dataset(), '--json']).stdout)
    return {'span': joined['span'], 'matched_ids': joined['matched_ids'],
            'live': [v['live'].get('auc') for v in joined['versions']]}

  @task(execution_timeout=TIMEOUTS['retrain'])
  def retrain(new_span: dict) -> dict:
    del new_span  # ordering only: the span is the input's latest now
    return _pipeline_run()

  @task(execution_timeout=TIMEOUTS['healthy'])
  def healthy() -> None:
    """The window raised no alert: the served model stays, nothing retrains."""

  @task(execution_timeout=TIMEOUTS['report'],
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
  def report() -> dict:
    served = json.loads(project_cli.run('pipeline', [
        'lineage', '--output', _params()['output'], '--json']).stdout)
    return {'version': served['push']['version'],
            'span': served['data']['span'],
            'files': [f['path'] for f in served['data']['files']]}

  window = monitor()
  train() >> serve_traffic() >> window
  new_span = feedback(window)
  no_alert = healthy()
  decide(window) >> [new_span, no_alert]
  [retrain(new_span), no_alert] >> report()
