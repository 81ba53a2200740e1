"""What the pipeline's model leaves on the table, on the shipped specs.

`make bench-datasets` (`python -m benchmarks.bench_datasets`):

- taxi: `pipeline run --dataset taxi` on the 15,002 real trips the tfx
  package installs (default settings: the Tuner runs); then, on exactly
  our train/eval split (the rows of our ExampleGen splits, matched by their
  row keys), TFX's own taxi example model (its module file,
  `taxi_utils_native_keras.py`, whose Transform derives the label from
  `tips`; its Trainer's 1,000 steps) and scikit-learn's
  HistGradientBoostingClassifier on the spec's columns. All three score the
  same eval rows; the differences come with DeLong's paired 95% intervals.
- penguins: `pipeline run --dataset penguins` on the 344 penguins, and the
  gradient-boosted trees on the same split; the difference in macro AUC with
  a paired bootstrap interval (components/judge.py).

Writes benchmarks/results/datasets.json (result_file: the command and the
commit). Takes about 10 minutes on 2 cores.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import components  # noqa: F401  (the stack's settings, before TensorFlow loads)

import numpy as np
import pandas as pd

from benchmarks import result_file
from components import dataset_spec
from components import judge
from data import spec_frame

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, 'benchmarks', 'results', 'datasets.json')
SEED = 0


def run_ours(name: str, output: str) -> Dict[str, object]:
  started = time.time()
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--dataset', name,
       '--output', output, '--json'], cwd=REPO, capture_output=True,
      text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f'{name}: {proc.stderr[-2000:]}')
  return {'wall_seconds': round(time.time() - started, 1)}


def split_keys(output: str, key: str) -> Dict[str, set]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = {}
  for split in ('train', 'eval'):
    files = glob.glob(os.path.join(output, 'pipeline_root', 'CsvExampleGen',
                                   'examples', '*', f'Split-{split}', '*'))
    values = set()
    for record in tf.data.TFRecordDataset(files, 'GZIP'):
      feature = tf.train.Example.FromString(record.numpy()).features.feature[
          key]
      values.add(feature.int64_list.value[0] if feature.int64_list.value
                 else feature.bytes_list.value[0].decode())
    found[split] = values
  return found


def raw_split(spec, output: str):
  """(train, eval) frames of the raw CSV rows (strings), as our run split
  them; a row key found in both splits (identical rows) is left out."""
  raw = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  keys = (raw[spec.id_column] if spec.id_column
          else spec_frame.row_keys(raw, spec))
  found = split_keys(output, spec.join_key)
  both = found['train'] & found['eval']
  train = raw[keys.isin(found['train'] - both)].reset_index(drop=True)
  evaluation = raw[keys.isin(found['eval'] - both)].reset_index(drop=True)
  return train, evaluation


def examples_for(rows: pd.DataFrame, raw_spec, skip=()) -> List[bytes]:
  """Serialized tf.Examples of raw CSV rows in a Transform graph's raw
  feature spec (what that model's serving_default parses)."""
  from components import signatures  # pylint: disable=g-import-not-at-top
  types = {key: kind for key, kind in signatures.raw_types(raw_spec).items()
           if key not in skip and key in rows.columns}
  return [signatures.typed_example(row, types).SerializeToString()
          for row in rows.to_dict('records')]


def score_model(model_dir: str, transform_dir: str, rows: pd.DataFrame,
                skip=(), output_key=None) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  raw_spec = tft.TFTransformOutput(transform_dir).raw_feature_spec()
  records = examples_for(rows, raw_spec, skip)
  predict = tf.saved_model.load(model_dir).signatures['serving_default']
  scores = []
  for start in range(0, len(records), 512):
    out = predict(examples=tf.constant(records[start:start + 512]))
    value = out[output_key] if output_key else next(iter(out.values()))
    scores.append(value.numpy())
  joined = np.concatenate(scores)
  return joined.ravel() if joined.shape[1] == 1 else joined


def latest(pattern: str) -> str:
  found = sorted(glob.glob(pattern), key=os.path.getmtime)
  if not found:
    raise RuntimeError(f'nothing at {pattern}')
  return found[-1]


def ours_scores(spec, output: str, rows: pd.DataFrame) -> np.ndarray:
  model = latest(os.path.join(output, 'serving', spec.model_name, '*'))
  transform = latest(os.path.join(output, 'pipeline_root', 'Transform',
                                  'transform_graph', '*'))
  renamed = rows.rename(columns={f.column: f.key for f in spec.features})
  return score_model(model, transform, renamed,
                     skip=(spec.label.key, spec.join_key),
                     output_key=spec.output_key)


def hgb_scores(spec, train: pd.DataFrame, evaluation: pd.DataFrame,
               labels_train: np.ndarray) -> np.ndarray:
  """HistGradientBoostingClassifier on the spec's columns: numbers as
  numbers (NaN missing), categoricals as its native categories."""
  from sklearn.ensemble import HistGradientBoostingClassifier  # pylint: disable=g-import-not-at-top

  def frame(rows, categories=None):
    out, found = pd.DataFrame(index=rows.index), {}
    for feature in spec.features:
      values = rows[feature.column].str.strip().where(
          ~rows[feature.column].str.strip().isin(('',) + spec.missing))
      if feature.kind == 'numeric':
        out[feature.key] = pd.to_numeric(values, errors='coerce')
      else:
        known = (categories[feature.key] if categories
                 else sorted(values.dropna().unique()))
        found[feature.key] = known
        out[feature.key] = pd.Categorical(values, categories=known).codes
        out[feature.key] = out[feature.key].where(out[feature.key] >= 0)
    return out, found

  x_train, categories = frame(train)
  x_eval, _ = frame(evaluation, categories)
  categorical = [f.kind != 'numeric' for f in spec.features]
  model = HistGradientBoostingClassifier(categorical_features=categorical,
                                         random_state=SEED)
  model.fit(x_train, labels_train)
  probabilities = model.predict_proba(x_eval)
  return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities


def run_tfx_taxi(train: pd.DataFrame, evaluation: pd.DataFrame,
                 work: str) -> Dict[str, str]:
  """TFX's taxi example (its module file) trained on our train rows."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as taxi  # pylint: disable=g-import-not-at-top
  module_file = os.path.join(os.path.dirname(taxi.__file__),
                             'taxi_utils_native_keras.py')
  data_root = os.path.join(work, 'data')
  for name, rows in (('train', train), ('eval', evaluation)):
    os.makedirs(os.path.join(data_root, name), exist_ok=True)
    # The example's own layout: no big_tipper column (its Transform derives
    # the label from tips). pickup_census_tract is empty on every row of
    # this CSV, and CsvExampleGen leaves a column without values out, which
    # the example's preprocessing_fn (it reads the column) cannot take: a
    # constant in its place carries as little as the empty column.
    rows = rows.drop(columns=['big_tipper'])
    if (rows['pickup_census_tract'].str.strip() == '').all():
      rows = rows.assign(pickup_census_tract='0')
    rows.to_csv(os.path.join(data_root, name, 'data.csv'), index=False)
  example_gen = tfx.components.CsvExampleGen(
      input_base=data_root, input_config=tfx.proto.Input(splits=[
          tfx.proto.Input.Split(name='train', pattern='train/*'),
          tfx.proto.Input.Split(name='eval', pattern='eval/*')]))
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs['examples'])
  schema_gen = tfx.components.SchemaGen(
      statistics=statistics_gen.outputs['statistics'],
      infer_feature_shape=True)
  transform = tfx.components.Transform(
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'], module_file=module_file)
  trainer = tfx.components.Trainer(
      module_file=module_file,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      train_args=tfx.proto.TrainArgs(num_steps=1000),
      eval_args=tfx.proto.EvalArgs(num_steps=150))
  root = os.path.join(work, 'pipeline_root')
  tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
      pipeline_name='taxi_example_on_our_split', pipeline_root=root,
      components=[example_gen, statistics_gen, schema_gen, transform,
                  trainer],
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(
              os.path.join(work, 'metadata.sqlite'))),
      beam_pipeline_args=['--direct_num_workers=1']))
  return {'model': latest(os.path.join(root, 'Trainer', 'model', '*',
                                       'Format-Serving')),
          'transform': latest(os.path.join(root, 'Transform',
                                           'transform_graph', '*'))}


def paired(labels, a, b) -> Dict[str, float]:
  test = judge.delong(labels, a, b)
  half = 1.959964 * test['diff_se']
  return {'diff': round(test['diff'], 4),
          'ci95': [round(test['diff'] - half, 4),
                   round(test['diff'] + half, 4)]}


def bench_taxi(work: str) -> Dict[str, object]:
  spec = dataset_spec.load('taxi')
  output = os.path.join(work, 'taxi')
  timing = run_ours('taxi', output)
  train, evaluation = raw_split(spec, output)
  labels = evaluation['big_tipper'].astype(int).to_numpy()
  ours = ours_scores(spec, output, evaluation)
  tfx_dirs = run_tfx_taxi(train, evaluation, os.path.join(work, 'tfx_taxi'))
  theirs = score_model(tfx_dirs['model'], tfx_dirs['transform'], evaluation,
                       skip=('tips', 'big_tipper'))
  hgb = hgb_scores(spec, train, evaluation,
                   train['big_tipper'].astype(int).to_numpy())
  auc = {name: round(float(judge.auc_with_standard_error(labels, s)['auc']),
                     4) for name, s in (('ours', ours), ('tfx_taxi_example',
                                                         theirs),
                                        ('hist_gradient_boosting', hgb))}
  return {'rows': {'train': len(train), 'eval': len(evaluation)},
          'eval_auc': auc,
          'ours_minus_tfx_taxi_example': paired(labels, ours, theirs),
          'ours_minus_hist_gradient_boosting': paired(labels, ours, hgb),
          'our_run': timing}


def bench_penguins(work: str) -> Dict[str, object]:
  spec = dataset_spec.load('penguins')
  output = os.path.join(work, 'penguins')
  timing = run_ours('penguins', output)
  train, evaluation = raw_split(spec, output)
  labels = evaluation['species'].map(spec.label.index_of).to_numpy()
  ours = ours_scores(spec, output, evaluation)
  hgb = hgb_scores(spec, train, evaluation,
                   train['species'].map(spec.label.index_of).to_numpy())
  found = judge.decide_multiclass(labels, ours, hgb, 0.5, 0.05, 0.0,
                                  spec.label.classes)
  return {'rows': {'train': len(train), 'eval': len(evaluation)},
          'eval_macro_auc': {
              'ours': round(found['candidate_auc'], 4),
              'hist_gradient_boosting': round(found['baseline_auc'], 4)},
          'ours_minus_hist_gradient_boosting': {
              'diff': round(found['diff'], 4),
              'ci95': [round(v, 4) for v in found['diff_ci95']],
              'interval': found['interval']},
          'our_run': timing}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_datasets')
  parser.add_argument('--out', default=RESULT)
  parser.add_argument('--work', help='scratch folder (default: a temp dir)')
  args = parser.parse_args(argv)
  work = args.work or tempfile.mkdtemp(prefix='bench-datasets-')
  results = {'taxi': bench_taxi(work)}
  print('taxi:', json.dumps(results['taxi']), flush=True)
  results['penguins'] = bench_penguins(work)
  print('penguins:', json.dumps(results['penguins']), flush=True)
  result_file.write(args.out, results)
  print('wrote', args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
