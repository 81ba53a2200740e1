"""The taxi and penguin specs end to end: `pipeline run --dataset` on their
real CSVs pushes a model, the judge's AUC agrees with scikit-learn on the
same eval rows, and the served model answers typed REST and gRPC requests
(`python -m serving.client --dataset ... --row ...`) as the SavedModel does
in process.

Small data on purpose (the penguins' 344 rows; 2,500 taxi trips sampled
from the tfx package's CSV, written to tmp): the full taxi CSV is the
benchmark's. Each run is made once for this file (module fixtures).
"""

import glob
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn import metrics as sk_metrics

from components import dataset_spec

REPO = pathlib.Path(__file__).resolve().parents[2]
TAXI_ROWS = 2500
pytestmark = pytest.mark.e2e


def _run(output, *args):
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'run', '--output', str(output),
       '--no-tune', '--json', *args],
      cwd=REPO, capture_output=True, text=True, timeout=1500)
  assert proc.returncode == 0, proc.stderr[-3000:]
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  return summary_text.parse_json_summary(proc.stdout)


@pytest.fixture(scope='module')
def taxi(tmp_path_factory):
  spec = dataset_spec.load('taxi')
  work = tmp_path_factory.mktemp('taxi')
  sample = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False
                       ).sample(n=TAXI_ROWS, random_state=7)
  csv_path = work / 'trips.csv'
  sample.to_csv(csv_path, index=False)
  summary = _run(work / 'output', '--dataset', 'taxi', '--data',
                 str(csv_path), '--train-steps', '300')
  return spec, work / 'output', summary, sample


@pytest.fixture(scope='module')
def penguins(tmp_path_factory):
  spec = dataset_spec.load('penguins')
  output = tmp_path_factory.mktemp('penguins') / 'output'
  summary = _run(output, '--dataset', 'penguins', '--train-steps', '200')
  return spec, output, summary


def _pushed_dir(output, spec) -> pathlib.Path:
  base = output / 'serving' / spec.model_name
  versions = [d for d in os.listdir(base) if d.isdigit()]
  assert len(versions) == 1
  return base / versions[0]


def _eval_split(output):
  """The ExampleGen eval split's serialized examples (what the judge read)."""
  files = sorted(glob.glob(str(output / 'pipeline_root' / 'CsvExampleGen' /
                               'examples' / '*' / 'Split-eval' / '*')))
  assert files
  return [r.numpy() for r in tf.data.TFRecordDataset(files, 'GZIP')]


def _judgement(output):
  found = glob.glob(str(output / 'pipeline_root' / 'BaselineJudge' /
                        'blessing' / '*' / 'judgement.json'))
  assert len(found) == 1
  with open(found[0], encoding='utf-8') as f:
    return json.load(f)


def _score(version_dir, records, spec):
  loaded = tf.saved_model.load(str(version_dir))
  out = loaded.signatures['serving_default'](examples=tf.constant(records))
  return out[spec.output_key].numpy(), loaded


def _labels(records, spec):
  return np.array([tf.train.Example.FromString(r).features.feature[
      spec.label.key].int64_list.value[0] for r in records])


def test_taxi_run_pushes_a_model_judged_as_sklearn_scores_it(taxi):
  spec, output, summary, _ = taxi
  assert summary['blessed'] is True
  version_dir = _pushed_dir(output, spec)
  records = _eval_split(output)
  scores, _ = _score(version_dir, records, spec)
  labels = _labels(records, spec)
  judgement = _judgement(output)
  assert judgement['eval_rows'] == len(records)
  assert judgement['candidate_auc'] == pytest.approx(
      sk_metrics.roc_auc_score(labels, scores.ravel()), abs=1e-9)
  # payment type alone separates most big tippers (cash tips are not
  # recorded): a model that reads its columns is far above chance.
  assert judgement['candidate_auc'] > 0.85


def test_taxi_split_is_by_row_key_and_the_leak_is_not_an_input(taxi):
  spec, output, _, sample = taxi
  keys = {}
  for split in ('train', 'eval'):
    files = glob.glob(str(output / 'pipeline_root' / 'CsvExampleGen' /
                          'examples' / '*' / f'Split-{split}' / '*'))
    keys[split] = {tf.train.Example.FromString(r.numpy()).features.feature[
        'row_key'].int64_list.value[0]
                   for r in tf.data.TFRecordDataset(files, 'GZIP')}
  assert keys['train'] and keys['eval']
  assert not keys['train'] & keys['eval']
  # every sampled trip is in one split (identical trips share a key)
  assert len(keys['train']) + len(keys['eval']) <= len(sample)
  assert len(keys['train']) + len(keys['eval']) > 0.95 * len(sample)
  loaded = tf.saved_model.load(str(_pushed_dir(output, spec)))
  inputs = loaded.signatures['predict_raw'].structured_input_signature[1]
  assert set(inputs) == {f.key for f in spec.features}
  assert 'tips' not in inputs
  assert inputs['fare'].dtype == tf.float32
  assert inputs['payment_type'].dtype == tf.string
  assert inputs['trip_start_hour'].dtype == tf.string  # categorical codes


def _client(*args):
  return subprocess.run([sys.executable, '-m', 'serving.client', *args],
                        cwd=REPO, capture_output=True, text=True,
                        timeout=120)


def _serve(start_server, output, spec):
  return start_server(model_name=spec.model_name,
                      model_base_path=str(output / 'serving' /
                                          spec.model_name),
                      file_system_poll_wait_seconds=0)


def test_taxi_served_over_rest_and_grpc_as_in_process(taxi, start_server):
  spec, output, _, sample = taxi
  server = _serve(start_server, output, spec)
  row = sample.iloc[0].to_dict()        # a CSV row as it is, tips included
  row['trip_seconds'] = ''              # and a number left out
  answers = []
  for protocol, port in (('rest', server.rest_port),
                         ('grpc', server.grpc_port)):
    proc = _client('--dataset', 'taxi', '--protocol', protocol, '--host',
                   '127.0.0.1', '--port', str(port), '--row', json.dumps(row))
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers.append(json.loads(proc.stdout.strip().splitlines()[-1]))
  loaded = tf.saved_model.load(str(_pushed_dir(output, spec)))
  kinds = {f.key: f.kind for f in spec.features}
  by_key = {f.key: row[f.column] for f in spec.features}
  local = loaded.signatures['predict_raw'](**{
      key: (tf.constant([float(v) if v != '' else math.nan], tf.float32)
            if kinds[key] == 'numeric' else tf.constant([v]))
      for key, v in by_key.items()})
  expected = float(local[spec.output_key].numpy().ravel()[0])
  for answer in answers:
    assert answer[spec.output_key] == pytest.approx(expected, abs=1e-6)
    assert 0.0 < answer[spec.output_key] < 1.0


def test_a_row_with_an_unknown_column_is_one_line_exit_2(taxi):
  proc = _client('--dataset', 'taxi', '--port', '1', '--row',
                 '{"trip_mile": 1.5}')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: --row: 'trip_mile' is not a column of the dataset spec taxi")


def test_penguins_multiclass_judged_on_the_macro_auc(penguins):
  spec, output, summary = penguins
  assert summary['blessed'] is True
  records = _eval_split(output)
  probabilities, _ = _score(_pushed_dir(output, spec), records, spec)
  labels = _labels(records, spec)
  assert probabilities.shape == (len(records), 3)
  assert probabilities.sum(axis=1) == pytest.approx(np.ones(len(records)),
                                                    abs=1e-5)
  judgement = _judgement(output)
  assert judgement['metric'] == 'macro AUC'
  assert judgement['candidate_auc'] == pytest.approx(
      sk_metrics.roc_auc_score(labels, probabilities, multi_class='ovr',
                               average='macro'), abs=1e-9)
  low, high = judgement['candidate_auc_ci95']
  assert low <= judgement['candidate_auc'] <= high
  assert sum(judgement['class_rows'].values()) == len(records)
  assert set(judgement['class_rows']) == set(spec.label.classes)
  card = (_pushed_dir(output, spec) / 'assets.extra' /
          'model_card.md').read_text(encoding='utf-8')
  assert spec.card['purpose'] in card and spec.card['limitations'] in card
  assert 'softmax output' in card and 'complaint' not in card.lower()
  assert (output / 'input' / 'span-1' / 'rows.csv').is_file()


def test_penguins_served_per_class_over_both_protocols(penguins,
                                                       start_server):
  spec, output, _ = penguins
  server = _serve(start_server, output, spec)
  frame = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  gentoo = frame[frame['species'] == 'Gentoo'].iloc[0].to_dict()
  answers = []
  for protocol, port in (('rest', server.rest_port),
                         ('grpc', server.grpc_port)):
    proc = _client('--dataset', 'penguins', '--protocol', protocol,
                   '--host', '127.0.0.1', '--port', str(port), '--row',
                   json.dumps(gentoo))
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers.append(json.loads(proc.stdout.strip().splitlines()[-1]))
  rest, grpc_ = answers
  assert set(rest[spec.output_key]) == set(spec.label.classes)
  assert sum(rest[spec.output_key].values()) == pytest.approx(1.0, abs=1e-5)
  for name in spec.label.classes:
    assert rest[spec.output_key][name] == pytest.approx(
        grpc_[spec.output_key][name], abs=1e-6)
  assert rest['predicted_class'] == 'Gentoo'


def test_penguins_bulk_scored_then_fed_back_by_row_key(penguins,
                                                      start_server, tmp_path):
  """Every penguin through the real server with the bulk client (each row's
  key in its tf.Example, the requests logged), then the CSV itself as the
  labels: feedback joins all of them by the row key and reports the live
  macro AUC, which must equal scikit-learn's on the client's own scores."""
  spec, output, _ = penguins
  server = _serve(start_server, output, spec)
  scores = tmp_path / 'scores.csv'
  proc = _client('--dataset', 'penguins', '--protocol', 'grpc', '--host',
                 '127.0.0.1', '--port', str(server.grpc_port), '--rows',
                 spec.data_path, '--out', str(scores), '--batch-size', '50',
                 '--request_log_prefix', str(tmp_path / 'logs' / 'requests'))
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  frame = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  labelled = frame[frame['species'].isin(spec.label.classes)]
  assert summary['sent'] == len(frame) and summary['failed'] == 0
  scored = pd.read_csv(scores, dtype={spec.join_key: str})
  probabilities = np.array([json.loads(p) for p in scored[spec.output_key]])
  assert probabilities.shape == (len(frame), 3)
  assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  copy = tmp_path / 'output'
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(output, copy)   # the new span must not touch the shared run
  fed = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'feedback', spec.data_path,
       '--dataset', 'penguins', '--logs', str(tmp_path / 'logs'),
       '--output', str(copy), '--json'], cwd=REPO, capture_output=True,
      text=True, timeout=600)
  assert fed.returncode == 0, fed.stderr[-2000:]
  result = json.loads(fed.stdout)
  assert result['matched_ids'] == len(labelled)
  [version] = result['versions']
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  keys = spec_frame.row_keys(labelled, spec).astype(str)
  by_key = dict(zip(scored[spec.join_key], probabilities))
  truth = labelled['species'].map(spec.label.classes.index)
  expected = sk_metrics.roc_auc_score(
      truth, np.array([by_key[k] for k in keys]), multi_class='ovr',
      average='macro')
  assert version['live']['auc'] == pytest.approx(expected, abs=1e-6)
  assert version['eval']['metric'] == 'macro AUC'
  assert result['span']['rows'] == len(labelled)


@pytest.fixture(scope='module')
def complaints_by_kind(tmp_path_factory):
  """The CFPB data through the by-kind code: a copy of the CFPB spec at
  another path is any data set to the pipeline, so its narrative goes
  through the text kind (n-gram bags, sparse inputs, early stopping)."""
  from data import generate  # pylint: disable=g-import-not-at-top
  work = tmp_path_factory.mktemp('by_kind')
  cfpb = dataset_spec.load('cfpb')
  text = pathlib.Path(cfpb.path).read_text(encoding='utf-8')
  text = text.replace('schema: ../pipeline/schema/schema.pbtxt',
                      f'schema: {cfpb.schema_path}').replace(
                          '{name: complaints,', '{name: complaints_by_kind,')
  (work / 'complaints.yaml').write_text(text, encoding='utf-8')
  spec = dataset_spec.load(str(work / 'complaints.yaml'))
  assert not dataset_spec.is_default(spec)
  export = generate.ensure_generated(4000, 42, str(work / 'generated'))
  output = work / 'output'
  summary = _run(output, '--dataset', str(work / 'complaints.yaml'),
                 '--data', export.export_csv, '--min-auc', '0.55')
  return spec, output, summary


def test_a_text_column_goes_through_the_by_kind_code(complaints_by_kind):
  spec, output, summary = complaints_by_kind
  assert [f.key for f in spec.of_kind('text')] == ['narrative']
  records = _eval_split(output)
  scores, loaded = _score(_pushed_dir(output, spec), records, spec)
  judgement = _judgement(output)
  assert judgement['candidate_auc'] == pytest.approx(
      sk_metrics.roc_auc_score(_labels(records, spec), scores.ravel()),
      abs=1e-9)
  assert summary['blessed'] is True  # clearly above chance
  inputs = loaded.signatures['predict_raw'].structured_input_signature[1]
  assert inputs['narrative'].dtype == tf.string
  found = glob.glob(str(output / 'pipeline_root' / 'Trainer' / 'model_run' /
                        '*' / 'training_history.json'))
  assert len(found) == 1
  with open(found[0], encoding='utf-8') as f:
    history = json.load(f)
  # No --train-steps: early stopping chose the length (fewer passes than
  # its bound, the best pass's weights kept).
  from components import early_stopping  # pylint: disable=g-import-not-at-top
  assert history['epochs'] < early_stopping.MAX_PASSES


def test_penguins_evaluator_reports_per_class_and_macro_auc(penguins):
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  _, output, _ = penguins
  found = glob.glob(str(output / 'pipeline_root' / 'Evaluator' /
                        'evaluation' / '*'))
  assert len(found) == 1
  overall = [m for m in tfma.load_metrics(found[0])
             if not m.slice_key.single_slice_keys]
  assert len(overall) == 1
  keys = overall[0].metric_keys_and_values
  aucs = {(k.key.sub_key.class_id.value
           if k.key.sub_key.HasField('class_id') else None,
           k.key.aggregation_type.macro_average): k.value.double_value.value
          for k in keys if k.key.name == 'auc'}
  assert {0, 1, 2} <= {class_id for class_id, _ in aucs}
  macro = [v for (class_id, is_macro), v in aucs.items() if is_macro]
  assert len(macro) == 1
  per_class = [v for (class_id, is_macro), v in aucs.items()
               if class_id is not None]
  # TFMA's AUC is a thresholded approximation of the exact one.
  assert macro[0] == pytest.approx(np.mean(per_class), abs=1e-6)
