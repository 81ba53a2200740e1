"""Every setting of the pipeline in one typed, frozen config (no paths here).

Paths belong to `pipeline.paths`; thresholds, budgets and names live here so
they are not scattered as literals. Every field a user would change can be
set from the command line (`python -m pipeline run --min-auc 0.7`) or from a
JSON file of field names (`--config settings.json`); the command line wins.
"""

import dataclasses
import json
import math
import os
from typing import Any, Dict, Mapping, Optional

from components import features


DEFAULT_PIPELINE_NAME = 'consumer_complaints'
DEFAULT_MODEL_NAME = 'complaints'


class ConfigError(ValueError):
  """A setting that cannot work (a one-line message for the CLI, exit 2)."""


def _monitor(default):
  """A setting of `pipeline monitor` rather than of `pipeline run`."""
  return dataclasses.field(default=default, metadata={'command': 'monitor'})


def _feedback(default):
  """A setting of `pipeline feedback` (the A/B test's verdict)."""
  return dataclasses.field(default=default, metadata={'command': 'feedback'})


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Settings of one pipeline run."""
  # The dataset spec (components/dataset_spec.py): a shipped name (cfpb,
  # taxi, penguins) or a spec file's path. The pipeline and model names
  # below default to the spec's when left at the CFPB defaults.
  dataset: str = 'cfpb'
  pipeline_name: str = DEFAULT_PIPELINE_NAME
  model_name: str = DEFAULT_MODEL_NAME
  rows: int = 50_000                 # size of the generated data set
  seed: int = 42
  # The Trainer's steps; 0 chooses by size (`train_steps_for`): train_epochs
  # passes over the window's training rows, at least min_train_steps. A fixed
  # length under-trains big data: 1,000 steps are a third of an epoch at
  # 500,000 rows; and more steps over-fit small data (at 15,000 rows 2,000
  # steps scored below 1,000): make bench-training, benchmarks/README.md.
  train_steps: int = 0
  train_epochs: float = 2.0
  min_train_steps: int = 1000
  # Batches of the Trainer's validation after each epoch (its training
  # curve); the Tuner scores trials on the whole eval split, the Evaluator
  # and the judge the model on it.
  eval_steps: int = 50
  tune: bool = True
  # Candidates of the Tuner's successive halving (components/tuner.py): all
  # trained for tuner_steps / tuner_halving steps, the best 1/tuner_halving
  # carried on; tuner_halving 1 trains every one at full length.
  tuner_trials: int = 3
  tuner_halving: int = 3
  # The length the Tuner ranks candidates for; 0: the Trainer's steps (the
  # best learning rate depends on the length).
  tuner_steps: int = 0
  # DirectRunner workers; 0 chooses by size: in-process (1) up to
  # beam_in_process_max_rows rows in the window, else one per core. Measured
  # (benchmarks/README.md, scaling.json): in-process is faster for every Beam
  # component at 15,000 rows (the run 94 s against 129 s) and the four cross
  # over between about 60,000 and 90,000 rows.
  beam_workers: int = 0
  beam_in_process_max_rows: int = 75_000
  hash_buckets_train: int = 4        # train:eval = 4:1 hash split
  # Spans Transform, the Tuner and the Trainer learn from: the latest `window`
  # spans ExampleGen has ingested into this store (TFX's rolling range). The
  # new span alone is validated, and the candidate is judged on its eval
  # split: the data the model will meet next.
  window: int = 1
  # With `run --span-by quarter|month` (pipeline/time_spans.py): a period
  # with fewer rows is merged with the next, since its eval split (a fifth)
  # would be too small to judge a model on: at 800 rows about 160 eval
  # rows, an AUC interval of about +-0.08.
  min_span_rows: int = 800
  hash_buckets_eval: int = 1
  # The judge's gates (components/judge.py): the lower bound of the AUC's 95%
  # interval must reach min_auc (a majority-class predictor, AUC 0.5, cannot),
  # and the candidate is held back only if it is significantly worse than
  # the last blessed model: DeLong's one-sided upper bound of the AUC
  # difference at baseline_significance below -max_auc_regression.
  min_auc: float = 0.65
  max_auc_regression: float = 0.0
  baseline_significance: float = 0.05
  # The decision threshold of the fairness rates per group (false positive
  # and negative rates, positive rate: components/fairness.py), a binary
  # model's; 0: the score above which the eval split's share of positives
  # is flagged (at 0.5 with a 20% base rate almost nothing is). Reported,
  # not gated. A multi-class model decides by the argmax.
  decision_threshold: float = 0.0
  # Monitoring (`pipeline monitor`): distances above which served traffic
  # has shifted. L-infinity of a categorical's value shares (skew against
  # training, drift against the previous window), Jensen-Shannon of the
  # narrative's length and of the predicted probability. A feature alerts
  # only above both its threshold and noise_z standard errors of what two
  # samples of one population show at the window's size.
  skew_threshold: float = _monitor(0.1)
  drift_threshold: float = _monitor(0.1)
  # Measured on 1,000 clean generated complaints: JS of the narrative's
  # length up to 0.009, of the prediction up to 0.008; rewording (1.5x
  # longer narratives) 0.03-0.05 (docs/monitoring.md). numeric_threshold
  # is the JS threshold of every numeric column and text column's length.
  prediction_shift_threshold: float = _monitor(0.02)
  numeric_threshold: float = _monitor(0.02)
  noise_z: float = _monitor(3.0)
  # Attribution drift (pipeline/monitoring/attribution_drift.py): a
  # feature's served mean |attribution| against the eval split's, the
  # change as a share of the model's whole dependency (the features' mean
  # |attribution| summed on the eval split); 0.05 = 5% of it.
  attribution_drift_threshold: float = _monitor(0.05)
  # Per-feature overrides, by raw feature key: 'state=0.2,company=0.3'
  # (a feature's attribution drift: 'narrative_attribution=0.1').
  feature_thresholds: str = _monitor('')
  # The A/B test (`pipeline feedback`, pipeline/monitoring/ab_test.py): the
  # canary is promoted unless its live AUC may be worse than the stable
  # one's by more than ab_margin (95% interval), kept if significantly
  # worse; each version needs ab_min_class_rows labelled requests a class.
  ab_margin: float = _feedback(0.02)
  ab_min_class_rows: int = _feedback(30)
  # Hash of the module code; module code wired by dotted path is not
  # fingerprinted by TFX, so this is what invalidates the cache on a change.
  # Computed by the runner from the code, never set by a user.
  code_fingerprint: str = ''       # all of components/ (Tuner, Trainer)
  # The window's training rows (the model's prior on categorical effects
  # fades with them); set by `sized_for` from the rows the runner prepared.
  train_rows: int = 0
  transform_fingerprint: str = ''  # the files preprocessing_fn depends on
  # Whether the Trainer's steps were chosen by size (train_steps 0 before
  # `sized_for`): the Trainer then stops early (components/early_stopping.py)
  # instead of training exactly train_steps.
  train_steps_by_size: bool = False

  def __post_init__(self):
    for name in ('rows', 'eval_steps', 'tuner_trials', 'tuner_halving',
                 'min_train_steps', 'hash_buckets_train', 'hash_buckets_eval',
                 'window', 'min_span_rows'):
      if getattr(self, name) < 1:
        raise ConfigError(f'{option(name)} must be at least 1, not '
                          f'{getattr(self, name)}')
    checks = [
        ('beam_workers', self.beam_workers >= 0, '0 (by size) or more'),
        ('train_steps', self.train_steps >= 0, '0 (by size) or more'),
        ('tuner_steps', self.tuner_steps >= 0,
         "0 (the Trainer's steps) or more"),
        ('train_epochs', 0.0 < self.train_epochs <= 1000.0,
         'above 0 and at most 1000'),
        ('beam_in_process_max_rows', self.beam_in_process_max_rows >= 0,
         '0 or more'),
        ('min_auc', 0.0 <= self.min_auc <= 1.0, 'between 0 and 1'),
        ('baseline_significance', 0.0 < self.baseline_significance < 0.5,
         'between 0 and 0.5'),
        ('max_auc_regression', 0.0 <= self.max_auc_regression <= 1.0,
         'between 0 and 1'),
        ('decision_threshold', 0.0 <= self.decision_threshold < 1.0,
         '0 (by the base rate) or a probability below 1')]
    checks += [(name, 0.0 < getattr(self, name) <= 1.0,
                'above 0 and at most 1')
               for name in ('skew_threshold', 'drift_threshold',
                            'prediction_shift_threshold',
                            'numeric_threshold',
                            'attribution_drift_threshold')]
    checks += [('ab_margin', 0.0 <= self.ab_margin < 1.0,
                'at least 0 and below 1'),
               ('ab_min_class_rows', self.ab_min_class_rows >= 2,
                'at least 2'),
               ('noise_z', self.noise_z >= 0, '0 or more')]
    for name, ok, rule in checks:
      if not ok:
        raise ConfigError(f'{option(name)} must be {rule}, not '
                          f'{getattr(self, name)}')
    self.per_feature_thresholds()  # raises on a malformed list
    for name in ('pipeline_name', 'model_name'):
      value = getattr(self, name)
      if not value or not value.replace('_', '').replace('-', '').isalnum():
        raise ConfigError(f'{option(name)} must be letters, digits, "_" or '
                          f'"-", not {value!r}')


  def for_spec(self, spec) -> 'PipelineConfig':
    """This config with the names of a dataset spec where they were left at
    the defaults: another data set is another pipeline (its own runs in
    ML Metadata) and another served model."""
    from components import dataset_spec  # pylint: disable=g-import-not-at-top
    if dataset_spec.is_default(spec):
      return self
    return dataclasses.replace(
        self,
        pipeline_name=(spec.name if self.pipeline_name == DEFAULT_PIPELINE_NAME
                       else self.pipeline_name),
        model_name=(spec.model_name if self.model_name == DEFAULT_MODEL_NAME
                    else self.model_name))

  def workers_for(self, rows: int) -> int:
    """The DirectRunner workers for `rows` rows (beam_workers 0: by size)."""
    if self.beam_workers:
      return self.beam_workers
    return 1 if rows <= self.beam_in_process_max_rows else (os.cpu_count()
                                                            or 1)

  def train_rows_of(self, rows: int) -> int:
    """The training split's share of `rows` labelled rows (the hash split)."""
    return round(rows * self.hash_buckets_train / (self.hash_buckets_train +
                                                   self.hash_buckets_eval))

  def train_steps_for(self, rows: int) -> int:
    """The Trainer's steps for `rows` labelled rows in the window."""
    if self.train_steps:
      return self.train_steps
    return max(self.min_train_steps, math.ceil(
        self.train_epochs * self.train_rows_of(rows) / features.BATCH_SIZE))

  def sized_for(self, rows: int) -> 'PipelineConfig':
    """This config with what depends on the window's size made explicit."""
    steps = self.train_steps_for(rows)
    return dataclasses.replace(self, train_steps=steps,
                               train_steps_by_size=(self.train_steps_by_size
                                                    or not self.train_steps),
                               tuner_steps=self.tuner_steps or steps,
                               train_rows=(self.train_rows or
                                           self.train_rows_of(rows)))

  def per_feature_thresholds(self) -> Dict[str, float]:
    """feature_thresholds as {feature: threshold}."""
    found = {}
    for item in filter(None, (p.strip() for p in
                              self.feature_thresholds.split(','))):
      name, _, value = item.partition('=')
      try:
        found[name.strip()] = float(value)
      except ValueError:
        raise ConfigError(f'{option("feature_thresholds")} takes '
                          f'feature=number pairs, not {item!r}') from None
      if not 0.0 < found[name.strip()] <= 1.0:
        raise ConfigError(f'the threshold of {name.strip()} must be above 0 '
                          f'and at most 1, not {value}')
    return found


# Fields the runner computes; a user neither sets nor sees them as options.
COMPUTED = ('code_fingerprint', 'transform_fingerprint', 'train_rows',
            'train_steps_by_size')


def option(name: str) -> str:
  """The command-line option of a field ('min_auc' -> '--min-auc')."""
  return '--' + name.replace('_', '-')


def settable_fields(command: Optional[str] = None):
  """The fields a user may set (of one command: 'run', 'monitor'), in order.

  Shared fields (the model name) belong to every command.
  """
  shared = ('model_name',)
  return [f for f in dataclasses.fields(PipelineConfig)
          if f.name not in COMPUTED and (
              command is None or f.name in shared or
              f.metadata.get('command', 'run') == command)]


def read_file(path: str) -> Dict[str, Any]:
  """The settings in a JSON file of field names; ConfigError if unusable."""
  try:
    with open(path, encoding='utf-8') as f:
      values = json.load(f)
  except OSError as error:
    raise ConfigError(f'cannot read the config file {path}: '
                      f'{error.strerror}') from None
  except (ValueError, UnicodeDecodeError) as error:
    raise ConfigError(f'the config file {path} is not JSON: {error}') from None
  if not isinstance(values, dict):
    raise ConfigError(f'the config file {path} must hold one JSON object of '
                      'settings')
  return values


def build(file_values: Optional[Mapping[str, Any]] = None,
          overrides: Optional[Mapping[str, Any]] = None,
          **computed: str) -> PipelineConfig:
  """A config from defaults, then a file's values, then command-line values.

  Args:
    file_values: from read_file (field names as keys).
    overrides: values given on the command line (None: not given).
    **computed: the fingerprints the runner computed.

  Raises:
    ConfigError: an unknown field, a value of the wrong type, or a value
      that cannot work.
  """
  fields = {f.name: f for f in settable_fields()}
  values: Dict[str, Any] = {}
  for name, value in (file_values or {}).items():
    if name not in fields:
      raise ConfigError(f'unknown setting {name!r} in the config file; known: '
                        + ', '.join(fields))
    values[name] = _typed(name, fields[name].type, value)
  values.update({k: v for k, v in (overrides or {}).items() if v is not None})
  return PipelineConfig(**values, **computed)


def _typed(name: str, kind, value):
  kind = {'int': int, 'float': float, 'bool': bool, 'str': str}.get(
      kind, kind) if isinstance(kind, str) else kind
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
    raise ConfigError(f'setting {name!r} must be {kind.__name__}, not '
                      f'{value!r}')
  return value
