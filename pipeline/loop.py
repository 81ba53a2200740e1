"""`python -m pipeline loop`: the life cycle as one command, round by round.

Train on a first span and serve it; then, for each scenario of change
(data/scenarios.py): send a span of that scenario's traffic to the served
model (`stable`), monitor it against training (the alerts), feed its labels
back (the served model's live AUC next to the best any model could reach on
those rows, and a new span of the features as served), retrain on the
rolling window with that span, judged against the served model; if pushed,
serve it as `canary` beside `stable` without a restart, send the next span
of the same scenario split between the two, and let the A/B verdict decide
(promote moves `stable`; keep and not-enough-data leave it where it is).

The model server runs as a child process for the whole loop and takes every
version and label change from its polled config file. Each round's traffic
is logged by the bulk client (`--request_log_prefix`: the PredictionLog
records a server's logging_config writes, see serving/README.md) so a
round's window of logs is exactly its requests.
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Sequence

from pipeline import local_runner
from pipeline import paths as project_paths
from pipeline.config import PipelineConfig

# What the loop changes in the run's defaults so a round takes a minute or
# two here (a --config file or an option still wins). Its spans are small:
# a feedback span of 3,000 rows has about 600 eval rows, whose AUC interval
# is about +-0.05 wide, so the gate on its lower bound is 0.6, not 0.65.
LOOP_DEFAULTS = {'rows': 3000, 'tune': False, 'train_steps': 300,
                 'window': 2, 'min_auc': 0.6}
DEFAULT_SCENARIOS = ('product_shift', 'narrative_wording', 'concept_drift')
TRAFFIC_ROWS = 3000      # complaints a round sends
CANARY_SHARE = 0.5       # of the A/B round's traffic
LABEL_POLL_SECONDS = 1   # the server's --model_config_file_poll_wait_seconds
RESULT_FILE = 'loop.json'            # in <output>/loop/
PARTIAL_FILE = 'loop.partial.json'   # the rounds so far, after each round


class LoopError(RuntimeError):
  """A step of the loop failed: one line, with where to look."""


@dataclasses.dataclass
class LoopPlan:
  scenarios: Sequence[str] = DEFAULT_SCENARIOS
  traffic_rows: int = TRAFFIC_ROWS
  canary_share: float = CANARY_SHARE


def _run(config: PipelineConfig, paths: project_paths.RunPaths, progress,
         **kwargs) -> Dict[str, Any]:
  result = local_runner.run(config, paths, progress=progress, **kwargs)
  if result.exit_code:
    raise LoopError(f'the pipeline run failed: {result.error}')
  return result.summary


def tool(*args: str, timeout: float = 1800) -> str:
  """Runs one of the project's commands as a user would; its stdout."""
  proc = subprocess.run([sys.executable, '-m', *args], capture_output=True,
                        text=True, timeout=timeout,
                        cwd=project_paths.REPO_ROOT)
  if proc.returncode:
    last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
    raise LoopError(f'python -m {args[0]} failed: {last}')
  return proc.stdout


def write_server_config(path: str, serving_dir: str, model_name: str,
                        labels: Dict[str, int]) -> None:
  """The server's model config: these labelled versions, loaded."""
  from serving import server_config  # pylint: disable=g-import-not-at-top
  temp = path + '.tmp'
  server_config.write_model_server_config(temp, [{
      'name': model_name, 'base_path': os.path.join(serving_dir, model_name),
      'versions': sorted(set(labels.values())), 'labels': labels}])
  os.replace(temp, path)  # a polling server never reads half a file


def label_version(rest_port: int, model_name: str,
                  label: str) -> Optional[int]:
  """The version a label resolves to on the server now (None: unknown)."""
  from serving.child_server import HOST  # pylint: disable=g-import-not-at-top
  url = (f'http://{HOST}:{rest_port}/v1/models/{model_name}/labels/{label}'
         '/metadata')
  try:
    with urllib.request.urlopen(url, timeout=10) as response:
      return int(json.load(response)['model_spec']['version'])
  except (OSError, ValueError, KeyError):
    return None


def wait_for_label(rest_port: int, model_name: str, label: str, version: int,
                   timeout: float = 300.0) -> float:
  """Seconds until the running server routes `label` to `version`."""
  start = time.monotonic()
  while time.monotonic() - start < timeout:
    if label_version(rest_port, model_name, label) == version:
      return time.monotonic() - start
    time.sleep(0.2)
  raise LoopError(f'the server did not route {label} to version {version} '
                  f'within {timeout:.0f} s')


def write_labels(export_csv: str, out: str, spec) -> None:
  """The outcomes of a traffic span, as they would come back later: the
  spec's ID and label columns only."""
  columns = [spec.id_column, spec.label.column]
  with open(export_csv, newline='', encoding='utf-8') as src, open(
      out, 'w', newline='', encoding='utf-8') as dst:
    writer = csv.writer(dst)
    writer.writerow(columns)
    for row in csv.DictReader(src):
      writer.writerow([row[c] for c in columns])


def best_auc(traffic, spec) -> float:
  """The AUC of the true probabilities the labels were drawn from: what no
  model can beat on these rows."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from data import metrics  # pylint: disable=g-import-not-at-top
  export = pd.read_csv(traffic.export_csv, dtype=str, keep_default_na=False)
  truth = pd.read_csv(traffic.true_probabilities_csv)
  labels = (export[spec.label.column] == spec.label.positive).astype(int)
  return float(metrics.best_achievable_auc(truth['true_probability'],
                                           labels))


class Loop:
  """One loop over --output: the server, the traffic, the rounds."""

  def __init__(self, config: PipelineConfig, paths: project_paths.RunPaths,
               plan: LoopPlan, progress: Callable[[str], None], mlflow=None):
    self.config, self.paths, self.plan = config, paths, plan
    self.progress = progress
    # An MLflow server (pipeline.tracking.mlflow_rest.Client) that gets each
    # run as it ends and the server's labels as aliases; None: nothing sent.
    self.mlflow = mlflow
    self.work = os.path.join(paths.output, 'loop')
    self.server_config = os.path.join(self.work, 'models.config')
    self.server = None
    self.stable: Optional[int] = None
    from components import dataset_spec  # pylint: disable=g-import-not-at-top
    # The generated traffic is in the default data set's layout.
    self.spec = dataset_spec.load(config.dataset)

  def _traffic(self, scenario: str, span: int):
    from data import generate  # pylint: disable=g-import-not-at-top
    return generate.ensure_generated(
        self.plan.traffic_rows, self.config.seed,
        os.path.join(self.work, 'traffic'), scenario=scenario, span=span)

  def _send(self, traffic, name: str, canary_share: Optional[float]) -> str:
    """Scores a span through the server; returns its logs' glob."""
    folder = os.path.join(self.work, name)
    os.makedirs(folder, exist_ok=True)
    args = ['serving.client', '--protocol', 'grpc', '--host', '127.0.0.1',
            '--port', str(self.server.grpc_port), '--model_name',
            self.config.model_name, '--complaints', traffic.export_csv,
            '--out', os.path.join(folder, 'scores.csv'),
            '--request_log_prefix', os.path.join(folder, 'requests')]
    args += (['--canary-share', str(canary_share)] if canary_share
             else ['--label', 'stable'])
    tool(*args)
    return os.path.join(folder, 'requests*')

  def _feedback(self, traffic, logs: str, name: str, write_span: bool):
    from pipeline.monitoring import ab_test, feedback  # pylint: disable=g-import-not-at-top
    labels = os.path.join(self.work, name, 'labels.csv')
    write_labels(traffic.export_csv, labels, self.spec)
    return feedback.join(self.paths, labels, logs, self.config.model_name,
                         write_span=write_span,
                         rule=ab_test.Rule.from_config(self.config),
                         spec=self.spec)

  def _monitor(self, logs: str) -> List[str]:
    from pipeline.monitoring import monitor  # pylint: disable=g-import-not-at-top
    found = monitor.monitor(self.paths, logs, self.config.model_name,
                            monitor.Thresholds.from_config(self.config),
                            self.spec)
    return sorted({f"{f['feature']} ({f['check']})"
                   for f in found['features'] if f['alert']})

  def _live(self, result, version: int) -> Optional[float]:
    for found in result['versions']:
      if found['model_version'] == str(version):
        return found['live'].get('auc')
    return None

  def _labels(self, labels: Dict[str, int]) -> None:
    write_server_config(self.server_config, self.paths.serving_dir,
                        self.config.model_name, labels)
    for label, version in labels.items():
      wait_for_label(self.server.rest_port, self.config.model_name, label,
                     version)
    self._mirror(labels)

  def _run(self, **kwargs) -> Dict[str, Any]:
    """One pipeline run, logged to MLflow when asked."""
    summary = _run(self.config, self.paths, self._quiet, **kwargs)
    if self.mlflow and summary.get('run_id'):
      from pipeline.tracking import mlflow_rest, mlflow_sync  # pylint: disable=g-import-not-at-top
      try:
        mlflow_sync.sync(self.paths, self.mlflow, only=[summary['run_id']])
      except mlflow_rest.TrackingError as error:
        self.progress(f'warning: the run was not logged to MLflow: {error}')
    return summary

  def _mirror(self, labels: Dict[str, int]) -> None:
    """The server's labels as the registered model's aliases."""
    if not self.mlflow:
      return
    from pipeline.tracking import mlflow_registry, mlflow_rest  # pylint: disable=g-import-not-at-top
    try:
      moved = mlflow_registry.mirror_labels(self.mlflow,
                                            self.config.model_name, labels)
      warning = mlflow_registry.missing_line(self.config.model_name, moved,
                                             labels)
    except mlflow_rest.TrackingError as error:
      warning = f'the MLflow aliases were not moved: {error}'
    if warning:
      self.progress(f'warning: {warning}')

  def round(self, index: int, scenario: str) -> Dict[str, Any]:
    """One scenario: traffic, monitor, feedback, retrain, A/B, verdict."""
    say = self.progress
    row = {'round': index, 'scenario': scenario, 'served': self.stable}
    first = self._traffic(scenario, 2 * index - 1)
    logs = self._send(first, f'round-{index}-traffic', None)
    row['alerts'] = self._monitor(logs)
    fed = self._feedback(first, logs, f'round-{index}-traffic', True)
    row['live_auc'] = self._live(fed, self.stable)
    row['best_auc'] = best_auc(first, self.spec)
    row['feedback_span'] = fed['span']['span']
    say(f'round {index} ({scenario}): alerts {", ".join(row["alerts"]) or "none"}'
        f'; served v{self.stable} live AUC {fmt(row["live_auc"])} (best '
        f'{fmt(row["best_auc"])}); feedback span {row["feedback_span"]}')
    summary, row['retrained'] = self.retrain()
    pushed = row['retrained']['version'] is not None
    second = self._traffic(scenario, 2 * index)
    row['next_best_auc'] = best_auc(second, self.spec)
    if not pushed:
      say(f'  retrained on spans {summary.get("window_spans")}: held back '
          f'({row["retrained"]["reason"]})')
      logs = self._send(second, f'round-{index}-ab', None)
      row['next_live_auc'] = self._live(
          self._feedback(second, logs, f'round-{index}-ab', False),
          self.stable)
      row['verdict'] = 'no canary'
      return row
    canary = row['retrained']['version']
    self._labels({'stable': self.stable, 'canary': canary})
    logs = self._send(second, f'round-{index}-ab', self.plan.canary_share)
    fed = self._feedback(second, logs, f'round-{index}-ab', False)
    ab = fed.get('ab_test') or {}
    row.update(verdict=ab.get('verdict', 'no verdict'),
               verdict_reason=ab.get('reason'),
               stable_live_auc=(ab.get('stable') or {}).get('auc'),
               canary_live_auc=(ab.get('canary') or {}).get('auc'))
    say(f'  canary v{canary} (spans {summary.get("window_spans")}) live AUC '
        f'{fmt(row["canary_live_auc"])} vs stable v{self.stable} '
        f'{fmt(row["stable_live_auc"])} (best {fmt(row["next_best_auc"])}): '
        f'{row["verdict"]}')
    if row['verdict'] == 'promote':
      tool('serving.promote', '--model_config_file', self.server_config,
            '--model_name', self.config.model_name)
      wait_for_label(self.server.rest_port, self.config.model_name, 'stable',
                     canary)
      self.stable = canary
    self._labels({'stable': self.stable})  # the canary's test is over
    row['served_after'] = self.stable
    return row

  def retrain(self):
    """The pipeline on the window with the new feedback span, judged
    against the served model: (its summary, what the round records)."""
    summary = self._run(from_input=True)
    pushed = (summary.get('push') or {}).get('pushed')
    return summary, {'window_spans': summary.get('window_spans'),
                     'blessed': summary.get('blessed'),
                     'reason': (summary.get('judgement') or {}).get('reason'),
                     'version': int(summary['push']['version'])
                                if pushed else None}

  def _quiet(self, line: str) -> None:
    del line  # the rounds print their own lines; the run log has the rest

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.work, exist_ok=True)
    started = time.time()
    self.progress('round 0: train on the first span (python -m pipeline run)')
    summary = self._run()
    if not (summary.get('push') or {}).get('pushed'):
      raise LoopError('the first model was not pushed: '
                      f"{(summary.get('judgement') or {}).get('reason')}")
    self.stable = first = int(summary['push']['version'])
    rounds = self.serve_rounds([
        lambda index=index, scenario=scenario: self.round(index, scenario)
        for index, scenario in enumerate(self.plan.scenarios, start=1)])
    return self.write_result({
        'output': self.paths.output, 'first_version': first,
        'rounds': rounds, 'wall_seconds': round(time.time() - started)})

  def serve_rounds(self, rounds: Sequence[Callable[[], Dict[str, Any]]]
                   ) -> List[Dict[str, Any]]:
    """Serves self.stable as `stable` (the model server as a child
    process, its config polled every second) and plays the rounds in
    turn; their rows."""
    from serving import child_server  # pylint: disable=g-import-not-at-top
    write_server_config(self.server_config, self.paths.serving_dir,
                        self.config.model_name, {'stable': self.stable})
    self._mirror({'stable': self.stable})
    flags = [f'--model_config_file_poll_wait_seconds={LABEL_POLL_SECONDS}',
             '--file_system_poll_wait_seconds=1',
             '--allow_version_labels_for_unavailable_models=true']
    with child_server.ChildServer(
        self.server_config, [self.config.model_name],
        os.path.join(self.work, 'server.log'), extra_flags=flags) as server:
      self.server = server
      self.progress(f'serving v{self.stable} (gRPC {server.grpc_port}, REST '
                    f'{server.rest_port})')
      done = []
      for play in rounds:
        done.append(play())
        # What the rounds so far measured survives a loop stopped later.
        self.write_result({'rounds': done, 'complete': False},
                          PARTIAL_FILE)
      return done

  def write_result(self, result: Dict[str, Any],
                   name: str = RESULT_FILE) -> Dict[str, Any]:
    """result into <output>/loop/<name> (written whole, then renamed)."""
    path = os.path.join(self.work, name)
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump(result, f, indent=1, default=float)
    os.replace(path + '.tmp', path)
    return result



def fmt(value: Optional[float]) -> str:
  return 'n/a' if value is None else f'{value:.3f}'


def render(result: Dict[str, Any]) -> str:
  """The loop's table: what the served model loses, what retraining wins."""
  head = ('round', 'scenario', 'alerts', 'served', 'live AUC', 'best',
          'canary', 'canary AUC', 'stable AUC', 'best', 'verdict', 'serving')
  lines = ['', '=== the loop ===', ' | '.join(head)]
  for r in result['rounds']:
    canary = (r.get('retrained') or {}).get('version')
    lines.append(' | '.join(str(x) for x in (
        r['round'], r['scenario'], ', '.join(r['alerts']) or 'none',
        f"v{r['served']}", fmt(r['live_auc']), fmt(r['best_auc']),
        f'v{canary}' if canary else 'held back',
        fmt(r.get('canary_live_auc')),
        fmt(r.get('stable_live_auc', r.get('next_live_auc'))),
        fmt(r['next_best_auc']), r['verdict'],
        f"v{r.get('served_after', r['served'])}")))
  lines.append(f"wall time: {result['wall_seconds']} s; every number in "
               f"{result['output']}/loop/loop.json")
  return '\n'.join(lines)
