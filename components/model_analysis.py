"""The model's dependency on its features and its errors per group, on the
eval split: what the ModelAnalysis component writes (analysis.json).

Beside the Evaluator rather than inside it: TFMA's attribution metrics only
aggregate what an extractor put in the extracts, and a custom extractor
replaces the Evaluator's defaults through a module file whose API moved
between TFMA 0.47 and 0.52; permutation importance scores the model again
per shuffle, which no TFMA metric does. So one component reads the same
eval split and the same candidate model as the Evaluator and the judge,
calls the model's own `explain` and `predict_raw` signatures (what the
server and the notebooks call), and computes:
- attributions per row (components/attributions.py), summarized as mean
  |attribution| per feature, per group of stand-in features and per slice,
  with intervals (components/dependency.py);
- permutation importance per feature group, with a bootstrap interval;
- fairness rates per slice at the decision threshold, with intervals and
  the largest gaps flagged (components/fairness.py).

Only numpy at import (the readers of ML Metadata import the names here).
"""

import json
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

from components import dependency
from components import fairness
from components import features

NODE_ID = 'ModelAnalysis'     # its node in the pipeline
ANALYSIS_FILE = 'analysis.json'
BATCH = 1024


def _keys_and_kinds(spec=None):
  if spec is None:
    return [(key, 'text' if key == features.TEXT_FEATURE else 'categorical')
            for key in features.RAW_FEATURES]
  return [(f.key, f.kind) for f in spec.features]


def wire_columns(records: List[bytes], spec=None) -> Dict[str, np.ndarray]:
  """The raw columns of serialized tf.Examples as predict_raw takes them:
  a numeric column as float32 (NaN: missing), any other as bytes ('':
  missing; an integer code as its text)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  keys = _keys_and_kinds(spec)
  values = {key: [] for key, _ in keys}
  for record in records:
    feature = tf.train.Example.FromString(record).features.feature
    for key, kind in keys:
      found = feature[key] if key in feature else None
      which = found.WhichOneof('kind') if found is not None else None
      listed = list(getattr(found, which).value) if which else []
      if kind == 'numeric':
        values[key].append(float(listed[0]) if listed else float('nan'))
      elif not listed:
        values[key].append(b'')
      elif which == 'bytes_list':
        values[key].append(listed[0])
      else:
        number = listed[0]
        values[key].append(str(int(number) if float(number).is_integer()
                               else number).encode())
  return {key: np.asarray(values[key], dtype=(
      np.float32 if kind == 'numeric' else object)) for key, kind in keys}


def call(signature, columns: Dict[str, np.ndarray],
         batch: int = BATCH) -> Dict[str, np.ndarray]:
  """A signature's outputs over every row, in batches."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rows = len(next(iter(columns.values())))
  parts: Dict[str, List[np.ndarray]] = {}
  for start in range(0, rows, batch):
    out = signature(**{key: tf.constant(value[start:start + batch])
                       for key, value in columns.items()})
    for name, tensor in out.items():
      parts.setdefault(name, []).append(tensor.numpy())
  return {name: np.concatenate(found) for name, found in parts.items()}


def probabilities(values: np.ndarray) -> np.ndarray:
  """[N] for a binary model's [N, 1], else as given."""
  values = np.asarray(values, dtype=np.float64)
  return values.ravel() if values.ndim == 1 or values.shape[1] == 1 \
      else values


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def slice_values(columns: Dict[str, np.ndarray], spec=None
                 ) -> Dict[str, np.ndarray]:
  """Each slicing feature's value per row ('(missing)' for none)."""
  keys = list(spec.slices) if spec is not None else features.SLICE_FEATURES
  return {key: np.array([_text(v) or features.MISSING_TOKEN
                         for v in columns[key]]) for key in keys}


LABEL_MODEL_NOTE = ('the generator\'s label model (data/label_model.py): '
                    'the truth when the data was generated, not otherwise')


def label_model_dependency(columns: Dict[str, np.ndarray],
                           groups) -> List[Dict[str, Any]]:
  """Per group, the mean |term - its mean| of the generator's label model
  over the rows: the dependency a model of generated CFPB data should
  find (a group's terms summed: the label model reads product, not
  sub-product)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from data import label_model  # pylint: disable=g-import-not-at-top
  rows = pd.DataFrame({features.FEATURE_TO_EXPORT[key]: [
      _text(v) or None for v in values] for key, values in columns.items()})
  terms = label_model.terms(rows)
  found = []
  for group in groups:
    term = sum((terms[key] for key in group if key in terms),
               np.zeros(len(rows)))
    found.append({'feature': dependency.group_name(group),
                  'mean_abs': float(np.mean(np.abs(term - term.mean())))})
  return found


def sample_rows(rows: int, most: int, seed: int) -> np.ndarray:
  """Row indices: all of them, or a seeded sample of `most`, in order."""
  if rows <= most:
    return np.arange(rows)
  return np.sort(np.random.default_rng(seed).choice(rows, most,
                                                    replace=False))


def analyze(records: List[bytes], labels: List[int], model_dir: str,
            spec=None, threshold: Optional[float] = None,
            repeats: int = dependency.REPEATS,
            resamples: int = dependency.RESAMPLES,
            max_rows: int = dependency.MAX_ROWS,
            seed: int = dependency.SEED) -> Dict[str, Any]:
  """Attributions, dependency, permutation importance and fairness of the
  exported model in model_dir on the eval rows.

  Args:
    records: serialized tf.Examples of the eval split.
    labels: their class indices.
    model_dir: the SavedModel (with the explain signature).
    spec: the dataset spec (None: the CFPB model).
    threshold: the decision threshold (binary); None: by the base rate.
    repeats, resamples, max_rows, seed: of the permutation importance.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import attributions  # pylint: disable=g-import-not-at-top
  started = time.time()
  loaded = tf.saved_model.load(model_dir)
  described = read_json(os.path.join(model_dir,
                                     attributions.DESCRIPTION_FILE)) or {}
  output_key = spec.output_key if spec is not None else features.OUTPUT_KEY
  classes = (list(spec.label.classes)
             if spec is not None and spec.multiclass else [])
  labels = np.asarray(labels, dtype=int)
  columns = wire_columns(records, spec)
  keys = [key for key, _ in _keys_and_kinds(spec)]
  slices = slice_values(columns, spec)
  out: Dict[str, Any] = {'rows': len(labels), 'features': keys,
                         'classes': classes or None}
  if attributions.SIGNATURE not in loaded.signatures:
    out['error'] = ('the model has no explain signature (exported before '
                    'attributions were)')
    return out
  explained = call(loaded.signatures[attributions.SIGNATURE], columns)
  out['attribution_seconds'] = round(time.time() - started, 3)
  scores = probabilities(explained[output_key])
  error = explained[attributions.APPROXIMATION_ERROR]
  groups = dependency.groups_of(keys)
  out['attributions'] = dict(
      dependency.attribution_summary(
          explained[attributions.ATTRIBUTIONS], keys, slices, groups,
          classes),
      method=described.get('method'),
      reference_rows=described.get('reference_rows'),
      approximation_error={'mean': float(np.mean(error)) if len(error)
                           else 0.0,
                           'max': float(np.max(error)) if len(error)
                           else 0.0})
  if spec is None:  # the CFPB model: the generator's truth beside it
    out['attributions']['label_model'] = {
        'note': LABEL_MODEL_NOTE,
        'groups': label_model_dependency(columns, groups)}
  started = time.time()
  predict = loaded.signatures[features.RAW_SIGNATURE]
  chosen = sample_rows(len(labels), max_rows, seed)
  out['permutation_importance'] = dependency.permutation_importance(
      lambda shuffled: probabilities(call(predict, shuffled)[output_key]),
      {key: value[chosen] for key, value in columns.items()},
      labels[chosen], groups, repeats=repeats, resamples=resamples,
      seed=seed)
  out['permutation_importance']['seconds'] = round(time.time() - started, 3)
  out['fairness'] = fairness.fairness(scores, labels, slices, threshold,
                                      classes)
  out['fairness']['flagged'] = fairness.flagged_gaps(out['fairness'])
  return out


def finite(value):
  """value with every NaN or infinity made None: strict JSON (the run's
  --json summary carries it), where NaN is no number."""
  if isinstance(value, dict):
    return {k: finite(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [finite(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if np.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def run(examples_uri: str, model_uri: str, output_dir: str, spec=None,
        threshold: Optional[float] = None, seed: int = dependency.SEED
        ) -> Dict[str, Any]:
  """analyze() on the eval split of an Examples artifact with a Trainer's
  Model artifact; writes output_dir/analysis.json."""
  from components import judge  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  records = judge._eval_examples(examples_uri)  # pylint: disable=protected-access
  labels = judge._labels(  # pylint: disable=protected-access
      records, spec.label.key if spec is not None else features.LABEL_KEY)
  found = analyze(records, labels, path_utils.serving_model_path(model_uri),
                  spec, threshold, seed=seed)
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, ANALYSIS_FILE), 'w',
            encoding='utf-8') as f:
    json.dump(finite(found), f, indent=1, allow_nan=False)
  return found


def compact(found: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
  """The analysis without its per-slice tables (the run's --json summary
  and lineage): dependency per feature and group, permutation importance,
  the fairness threshold, overall rates, the largest gaps and the flagged
  ones."""
  if not found or 'attributions' not in found:
    return found
  attributions = {k: v for k, v in found['attributions'].items()
                  if k != 'slices'}
  fair = found['fairness']
  if 'per_class' in fair:
    rates = {name: {'overall': part['overall'], 'gaps': part['gaps']}
             for name, part in fair['per_class'].items()}
    fairness_ = dict({k: v for k, v in fair.items() if k != 'per_class'},
                     per_class=rates)
  else:
    fairness_ = {k: v for k, v in fair.items() if k != 'slices'}
  return dict(found, attributions=attributions, fairness=fairness_)


def read(output_dir: str) -> Optional[Dict[str, Any]]:
  """The analysis.json in an artifact's folder, None if there is none."""
  return read_json(os.path.join(output_dir, ANALYSIS_FILE))


def read_json(path: str) -> Optional[Dict[str, Any]]:
  """A JSON file's object, None if there is no such file (an artifact or
  a model written before it was)."""
  if not os.path.isfile(path):
    return None
  with open(path, encoding='utf-8') as f:
    return json.load(f)
