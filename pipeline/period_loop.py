"""`python -m pipeline loop --dataset taxi`: the life cycle on real data, in
time order, one period per round.

The CSV is cut into periods of its timestamp (pipeline/time_spans.py: a
quarter by default, small ones merged). Round 0 trains on the first
`window` periods (`run --span-by`, one run each) and serves the model as
`stable`. Then each later period is one round:
1. its rows are the traffic: sent through the real server by the bulk
   client (`serving.client --dataset --rows`, every row with its join key,
   the requests logged); when the previous round pushed a canary, a hash
   of the key splits them between `stable` and `canary`: the period the
   A/B test runs on is also the period the monitor watches;
2. the monitor compares them with what the served model trained on (skew)
   and with the previous round's traffic (drift);
3. their real labels come back (the period's own rows are the labels
   file): each version's live AUC, and with a canary the A/B verdict,
   acted on (promote moves `stable`; otherwise the canary is dropped);
4. the joined rows become a feedback span and the pipeline retrains on the
   window (`run --from-input`); a pushed model is served as `canary` for
   the next round.
Beside the served models, the first model (never retrained) scores each
period in process: its AUC against the served one's is what retraining
bought. The round's row records the alerts, the largest distances, both
AUCs, the verdict and what serves afterwards.
"""

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from components import dataset_spec
from pipeline import input_data
from pipeline import local_runner
from pipeline import loop
from pipeline import paths as project_paths
from pipeline import period_runs
from pipeline import time_spans
from pipeline.config import PipelineConfig

TOP_DISTANCES = 3   # features named per round, by distance over threshold


@dataclasses.dataclass
class PeriodPlan:
  data: Optional[Sequence[str]] = None   # default: the spec's data
  span_by: str = 'quarter'
  canary_share: float = loop.CANARY_SHARE
  rounds: Optional[int] = None           # default: until the data ends


def _largest(found: Dict[str, Any]) -> List[Dict[str, Any]]:
  """The features whose distance is largest relative to its threshold."""
  table = [f for f in found['features'] if f.get('distance') is not None
           and f.get('threshold')]
  table.sort(key=lambda f: f['distance'] / f['threshold'], reverse=True)
  return [{k: f[k] for k in ('feature', 'check', 'measure', 'distance',
                             'threshold', 'alert')}
          for f in table[:TOP_DISTANCES]]


class PeriodLoop(loop.Loop):
  """The loop over a dataset spec's periods (see the module docstring)."""

  def __init__(self, config: PipelineConfig, paths: project_paths.RunPaths,
               plan: PeriodPlan, progress: Callable[[str], None],
               mlflow=None):
    spec = dataset_spec.load(config.dataset)
    # The spec's pipeline and model names, as every run of it uses.
    super().__init__(config.for_spec(spec), paths, loop.LoopPlan(
        canary_share=plan.canary_share), progress, mlflow)
    self.period_plan = plan
    self.spec = spec
    self.canary: Optional[int] = None
    self.first_model_dir: Optional[str] = None

  def _periods(self):
    files = local_runner.data_files(self.config, self.period_plan.data,
                                    self.spec)
    frame = input_data.read_spec_csvs(files, self.spec)
    planned = time_spans.plan(frame, self.spec, self.period_plan.span_by,
                              self.config.min_span_rows, ', '.join(files))
    return files, planned

  def _send_rows(self, group, name: str) -> str:
    """A period's rows through the server; returns its logs' glob."""
    folder = os.path.join(self.work, name)
    os.makedirs(folder, exist_ok=True)
    traffic = os.path.join(folder, 'traffic.csv')
    group.rows.to_csv(traffic, index=False)
    args = ['serving.client', '--dataset', self.config.dataset,
            '--protocol', 'grpc', '--host', '127.0.0.1', '--port',
            str(self.server.grpc_port), '--model_name',
            self.config.model_name, '--rows', traffic, '--out',
            os.path.join(folder, 'scores.csv'), '--request_log_prefix',
            os.path.join(folder, 'requests')]
    args += (['--canary-share', str(self.period_plan.canary_share)]
             if self.canary else ['--label', 'stable'])
    loop.tool(*args)
    return os.path.join(folder, 'requests*')

  def _first_model_auc(self, group) -> Optional[float]:
    """The first model's AUC on the period (in process, never retrained)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from pipeline.monitoring import live_metrics  # pylint: disable=g-import-not-at-top
    from data import spec_frame  # pylint: disable=g-import-not-at-top
    from serving import client_rows  # pylint: disable=g-import-not-at-top
    labelled, _ = spec_frame.to_pipeline_frame(group.rows, self.spec)
    model = tf.saved_model.load(self.first_model_dir)
    serialized = client_rows.serialized_rows(
        labelled, self.spec, client_rows.schema_types(self.spec))
    scores = model.signatures['serving_default'](
        examples=tf.constant(serialized))[self.spec.output_key].numpy()
    labels = labelled[self.spec.label.key].to_numpy()
    found = live_metrics.performance(
        labels, (scores.tolist() if self.spec.multiclass
                 else np.ravel(scores).tolist()))
    return found.get('auc')

  def _verdict(self, fed, row) -> None:
    """The A/B verdict on this round's traffic, acted on."""
    ab = fed.get('ab_test') or {}
    row.update(canary=self.canary, verdict=ab.get('verdict', 'no verdict'),
               verdict_reason=ab.get('reason'),
               stable_live_auc=(ab.get('stable') or {}).get('auc'),
               canary_live_auc=(ab.get('canary') or {}).get('auc'))
    if row['verdict'] == 'promote':
      loop.tool('serving.promote', '--model_config_file',
                self.server_config, '--model_name', self.config.model_name)
      loop.wait_for_label(self.server.rest_port, self.config.model_name,
                          'stable', self.canary)
      self.stable = self.canary
    self.canary = None
    self._labels({'stable': self.stable})

  def period_round(self, index: int, group) -> Dict[str, Any]:
    """One period: traffic, monitor, feedback (and verdict), retrain."""
    from pipeline.monitoring import ab_test, feedback, monitor  # pylint: disable=g-import-not-at-top
    say = self.progress
    name = f'round-{index}'
    row: Dict[str, Any] = {'round': index, 'period': group.label,
                           'rows': len(group.rows), 'served': self.stable}
    logs = self._send_rows(group, name)
    found = monitor.monitor(self.paths, logs, self.config.model_name,
                            monitor.Thresholds.from_config(self.config),
                            spec=self.spec)
    row['alerts'] = sorted({f"{f['feature']} ({f['check']})"
                            for f in found['features'] if f['alert']})
    row['largest_distances'] = _largest(found)
    fed = feedback.join(self.paths, os.path.join(self.work, name,
                                                 'traffic.csv'),
                        logs, self.config.model_name, write_span=True,
                        rule=ab_test.Rule.from_config(self.config),
                        spec=self.spec)
    row['live_auc'] = self._live(fed, self.stable)
    row['first_model_auc'] = self._first_model_auc(group)
    row['feedback_span'] = fed['span']['span']
    if self.canary:
      self._verdict(fed, row)
    else:
      row['verdict'] = 'no canary'
    say(f'round {index} ({group.label}, {len(group.rows):,} rows): alerts '
        f'{", ".join(row["alerts"]) or "none"}; served v{row["served"]} live '
        f'AUC {loop.fmt(row["live_auc"])} (first model '
        f'{loop.fmt(row["first_model_auc"])}); {row["verdict"]}')
    summary, row['retrained'] = self.retrain()
    if row['retrained']['version'] is not None:
      self.canary = row['retrained']['version']
      self._labels({'stable': self.stable, 'canary': self.canary})
      say(f'  retrained on spans {summary.get("window_spans")}: '
          f'v{self.canary} serves as canary next round')
    else:
      say(f'  retrained on spans {summary.get("window_spans")}: held back '
          f'({row["retrained"]["reason"]})')
    row['served_after'] = self.stable
    return row

  def run(self) -> Dict[str, Any]:
    os.makedirs(self.work, exist_ok=True)
    started = time.time()
    try:
      files, planned = self._periods()
    except (time_spans.PeriodError, dataset_spec.SpecError,
            local_runner.RunInputError, OSError, ValueError) as error:
      raise loop.LoopError(str(error).splitlines()[0]) from None
    groups = planned['groups']
    window = self.config.window
    if len(groups) <= window:
      raise loop.LoopError(
          f'{len(groups)} period(s) of at least {self.config.min_span_rows} '
          f'rows: the loop needs more than the window ({window}) to have '
          'traffic after the first training')
    for line in planned['merged']:
      self.progress(f'periods: {line}')
    first = groups[:window]
    rounds_of = groups[window:][:self.period_plan.rounds]
    self.progress(f'round 0: train on {", ".join(g.label for g in first)} '
                  f'(python -m pipeline run --span-by '
                  f'{self.period_plan.span_by})')
    result = period_runs.run(self.config, self.paths, files,
                             self.period_plan.span_by,
                             until=first[-1].periods[-1],
                             progress=self._quiet)
    summary = result.summary
    if result.exit_code or not (summary.get('push') or {}).get('pushed'):
      raise loop.LoopError(
          'the first model was not pushed: '
          f"{result.error or (summary.get('judgement') or {}).get('reason')}")
    self.stable = first_version = int(summary['push']['version'])
    self.first_model_dir = os.path.join(self.paths.serving_dir,
                                        self.config.model_name,
                                        str(first_version))
    rounds = self.serve_rounds([
        lambda index=index, group=group: self.period_round(index, group)
        for index, group in enumerate(rounds_of, start=1)])
    return self.write_result({
        'output': self.paths.output, 'dataset': self.spec.name,
        'span_by': self.period_plan.span_by,
        'first_training': [g.label for g in first],
        'merged': planned['merged'], 'first_version': first_version,
        'rounds': rounds, 'wall_seconds': round(time.time() - started)})


def render(result: Dict[str, Any]) -> str:
  """The period loop's table."""
  f = loop.fmt
  head = ('round', 'period', 'rows', 'alerts', 'served', 'live AUC',
          'first model AUC', 'canary', 'canary AUC', 'stable AUC', 'verdict',
          'retrained', 'serving')
  lines = ['', f"=== the loop on {result['dataset']}, by "
           f"{result['span_by']} ===",
           f"first trained on {', '.join(result['first_training'])}: "
           f"v{result['first_version']}", ' | '.join(head)]
  for r in result['rounds']:
    retrained = (r.get('retrained') or {}).get('version')
    lines.append(' | '.join(str(x) for x in (
        r['round'], r['period'], r['rows'], ', '.join(r['alerts']) or 'none',
        f"v{r['served']}", f(r['live_auc']), f(r['first_model_auc']),
        f"v{r['canary']}" if r.get('canary') else '-',
        f(r.get('canary_live_auc')), f(r.get('stable_live_auc')),
        r['verdict'], f'v{retrained}' if retrained else 'held back',
        f"v{r['served_after']}")))
  lines.append(f"wall time: {result['wall_seconds']} s; every number in "
               f"{result['output']}/loop/loop.json")
  return '\n'.join(lines)
