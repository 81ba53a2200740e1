"""The bulk client (--complaints): batches, counts, failures, the join key.

Real servers on loopback with request logging on; the logged PredictionLogs
must carry each row's Complaint ID inside the serving_default tf.Examples.
"""

import csv
import glob
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import features
from data import cfpb_export
from serving import client_bulk
from serving import client_progress
from serving import client_protocols
from serving import client_request_log
from serving import client_rest
from serving import example_models
from serving import server_config

from serving_helpers import HOST, free_port

MODEL = 'complaints'
N = 50


def write_export(path, n=N, ids=None):
  """n synthetic complaints in the CFPB export layout."""
  complaints = example_models.sample_complaints(n, seed=7)
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, fieldnames=cfpb_export.EXPORT_COLUMNS)
    writer.writeheader()
    for i, complaint in enumerate(complaints):
      row = {c: '' for c in cfpb_export.EXPORT_COLUMNS}
      row.update(complaint)
      row['Consumer complaint narrative'] += ',\n "quoted", multi-line'
      row[features.ID_EXPORT_COLUMN] = ids[i] if ids else str(3000000 + i)
      writer.writerow(row)
  return [str(3000000 + i) for i in range(n)] if not ids else list(ids)


def read_logs(prefix):
  logs = []
  for path in sorted(glob.glob(glob.escape(prefix) + '*')):
    for record in tf.data.TFRecordDataset(path):
      logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
  return logs


def logged_ids(logs):
  ids = []
  for log in logs:
    tensor = log.predict_log.request.inputs[features.EXAMPLES_INPUT]
    for serialized in tf.make_ndarray(tensor).reshape(-1):
      example = tf.train.Example.FromString(serialized)
      ids.append(example.features.feature[features.ID_KEY]
                 .bytes_list.value[0].decode())
  return ids


@pytest.fixture
def logged_complaints(complaint_model, tmp_path, start_server):
  def start(**options):
    prefix = str(tmp_path / 'server_logs' / MODEL)
    config = tmp_path / 'models.config'
    server_config.write_model_server_config(str(config), [{
        'name': MODEL, 'base_path': complaint_model,
        'logging': {'filename_prefix': prefix, 'sampling_rate': 1.0}}])
    server = start_server(model_config_file=str(config),
                          file_system_poll_wait_seconds=0, **options)
    return server, prefix
  return start


def _port(server, protocol):
  return server.rest_port if protocol == 'rest' else server.grpc_port


def _expected(server, csv_path):
  """Probabilities of the same rows through predict_raw (no ID at all)."""
  _, rows = client_bulk.read_complaints(str(csv_path))
  rest = client_rest.RestClient(HOST, server.rest_port, MODEL)
  try:
    return rest.predict_features(rows)
  finally:
    rest.close()


@pytest.mark.parametrize('protocol', ['rest', 'grpc'])
def test_cli_scores_every_row_and_the_log_carries_the_ids(
    logged_complaints, tmp_path, protocol):
  server, prefix = logged_complaints()
  csv_path = tmp_path / 'complaints.csv'
  ids = write_export(csv_path)
  out = tmp_path / 'scores.csv'
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--protocol', protocol,
       '--host', HOST, '--port', str(_port(server, protocol)),
       '--complaints', str(csv_path), '--out', str(out), '--batch-size', '16'],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary['sent'] == N and summary['failed'] == 0
  assert summary['model_version'] == 1 and summary['batches'] == 4
  assert '50/50 rows' in result.stderr  # The progress bar.
  with open(out, newline='', encoding='utf-8') as f:
    written = list(csv.reader(f))
  assert written[0] == ['Complaint ID', 'disputed_probability',
                        'model_version']
  assert [r[0] for r in written[1:]] == ids
  assert {r[2] for r in written[1:]} == {'1'}
  # The extra complaint_id feature changes nothing: same as predict_raw.
  np.testing.assert_allclose([float(r[1]) for r in written[1:]],
                             _expected(server, csv_path), atol=1e-6)
  assert server.core.request_logger.flush(timeout=30)
  logs = read_logs(prefix)
  assert [log.log_metadata.model_spec.signature_name for log in logs] == (
      ['serving_default'] * 4 + ['predict_raw'])  # The client, then _expected.
  logs = logs[:4]
  assert logged_ids(logs) == ids
  for log in logs:
    assert log.log_metadata.model_spec.name == MODEL
    assert log.log_metadata.model_spec.version.value == 1
    assert log.log_metadata.model_spec.signature_name == 'serving_default'
  assert not list(tmp_path.glob('.scores.csv.*'))  # The temp file is gone.


@pytest.mark.parametrize('protocol', ['rest', 'grpc'])
def test_rejected_batches_are_counted_and_the_rest_scored(
    logged_complaints, tmp_path, protocol):
  # Batches of 16 examples exceed --max_tensor_elements=10; the last (2) not.
  server, prefix = logged_complaints(max_tensor_elements=10)
  ids = write_export(tmp_path / 'c.csv')
  ids_read, rows = client_bulk.read_complaints(str(tmp_path / 'c.csv'))
  assert ids_read == ids
  bulk = client_protocols.make_client(protocol, host=HOST,
                                      port=_port(server, protocol),
                                      model_name=MODEL)
  stream = io.StringIO()
  try:
    summary = client_bulk.score_complaints(
        bulk, ids, rows, str(tmp_path / 'out.csv'), batch_size=16,
        progress=client_progress.Progress(len(rows), stream))
  finally:
    bulk.close()
  assert summary['sent'] == 2 and summary['failed'] == 48
  assert summary['failed_batches'] == 3 and summary['batches'] == 4
  assert 'max_tensor_elements' in summary['errors'][0] or (
      'elements' in summary['errors'][0]), summary['errors']
  with open(tmp_path / 'out.csv', newline='', encoding='utf-8') as f:
    assert [r[0] for r in list(csv.reader(f))[1:]] == ids[48:]
  assert '50/50 rows' in stream.getvalue() and '48 failed' in stream.getvalue()
  assert server.core.request_logger.flush(timeout=30)
  assert logged_ids(read_logs(prefix)) == ids[48:]


def test_unreachable_server_fails_every_row_exit_1(tmp_path):
  write_export(tmp_path / 'c.csv', n=5)
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--protocol', 'grpc',
       '--host', HOST, '--port', str(free_port()), '--timeout', '2',
       '--complaints', str(tmp_path / 'c.csv'), '--out',
       str(tmp_path / 'o.csv')],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 1, result.stderr
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert (summary['sent'], summary['failed']) == (0, 5)
  assert summary['model_version'] is None
  assert 'Cannot reach the model server' in summary['errors'][0]


@pytest.mark.parametrize('protocol', ['rest', 'grpc'])
def test_client_side_log_equals_the_servers(logged_complaints, tmp_path,
                                            protocol):
  """--request_log_prefix: the same PredictionLogs without server logging
  (how a deployment on the real TF Serving gets them)."""
  server, server_prefix = logged_complaints()
  ids = write_export(tmp_path / 'c.csv', n=20)
  _, rows = client_bulk.read_complaints(str(tmp_path / 'c.csv'))
  bulk = client_protocols.make_client(protocol, host=HOST,
                                      port=_port(server, protocol),
                                      model_name=MODEL)
  request_log = client_request_log.ClientRequestLog(
      str(tmp_path / 'client_logs' / 'c'))
  try:
    summary = client_bulk.score_complaints(bulk, ids, rows,
                                           str(tmp_path / 'o.csv'),
                                           batch_size=8,
                                           request_log=request_log)
  finally:
    bulk.close()
    files = request_log.close()
  assert summary['sent'] == 20 and len(files) == 1
  assert server.core.request_logger.flush(timeout=30)
  by_client = read_logs(str(tmp_path / 'client_logs' / 'c'))
  by_server = read_logs(server_prefix)
  assert len(by_client) == len(by_server) == 3
  assert logged_ids(by_client) == logged_ids(by_server) == ids
  for mine, theirs in zip(by_client, by_server):
    assert mine.log_metadata.model_spec == theirs.log_metadata.model_spec
    assert mine.predict_log.request == theirs.predict_log.request
    mine_out = tf.make_ndarray(
        mine.predict_log.response.outputs[features.OUTPUT_KEY])
    theirs_out = tf.make_ndarray(
        theirs.predict_log.response.outputs[features.OUTPUT_KEY])
    assert mine_out.shape == theirs_out.shape
    np.testing.assert_array_equal(mine_out, theirs_out)
    assert (mine.predict_log.response.model_spec ==
            theirs.predict_log.response.model_spec)


def _cli_error(*args):
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--port', str(free_port()),
       *args], capture_output=True, text=True, timeout=120, check=False)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr
  assert len(lines) == 1 and lines[0].startswith('error: '), lines
  assert 'Traceback' not in result.stderr
  return lines[0]


def test_bad_input_is_one_error_line_and_exit_2(tmp_path):
  out = str(tmp_path / 'o.csv')
  missing = str(tmp_path / 'nope.csv')
  assert 'cannot read' in _cli_error('--complaints', missing, '--out', out)
  (tmp_path / 'other.csv').write_text('a,b\n1,2\n')
  assert 'Product' in _cli_error('--complaints', str(tmp_path / 'other.csv'),
                                 '--out', out)
  write_export(tmp_path / 'noid.csv', n=3, ids=['1', '', '3'])
  assert 'without a Complaint ID' in _cli_error(
      '--complaints', str(tmp_path / 'noid.csv'), '--out', out)
  write_export(tmp_path / 'ok.csv', n=3)
  ok = str(tmp_path / 'ok.csv')
  assert 'needs --out' in _cli_error('--complaints', ok)
  assert 'batch' in _cli_error('--complaints', ok, '--out', out,
                               '--batch-size', '0')
  assert 'does not exist' in _cli_error(
      '--complaints', ok, '--out', str(tmp_path / 'no' / 'dir.csv'))
  assert 'not allowed with' in _cli_error('--complaints', ok, '--out', out,
                                          '--complaint', '{}')
  assert not (tmp_path / 'o.csv').exists()


@pytest.mark.parametrize('protocol', ['rest', 'grpc'])
def test_canary_share_splits_by_complaint_id(complaint_model, tmp_path,
                                             start_server, protocol):
  import shutil  # pylint: disable=g-import-not-at-top
  base = tmp_path / 'ab' / MODEL
  shutil.copytree(complaint_model, base)
  shutil.copytree(base / '1', base / '2')
  prefix = str(tmp_path / 'server_logs' / MODEL)
  config = tmp_path / 'models.config'
  server_config.write_model_server_config(str(config), [{
      'name': MODEL, 'base_path': str(base), 'versions': [1, 2],
      'labels': {'stable': 1, 'canary': 2},
      'logging': {'filename_prefix': prefix, 'sampling_rate': 1.0}}])
  server = start_server(model_config_file=str(config),
                        file_system_poll_wait_seconds=0,
                        allow_version_labels_for_unavailable_models=True)
  csv_path = tmp_path / 'complaints.csv'
  ids = write_export(csv_path, n=200)
  out = tmp_path / 'scores.csv'
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--protocol', protocol,
       '--host', HOST, '--port', str(_port(server, protocol)),
       '--complaints', str(csv_path), '--out', str(out),
       '--canary-share', '0.25'],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  # The split by sha256 of the ID, computed here independently.
  import hashlib  # pylint: disable=g-import-not-at-top
  canary = {i for i in ids if int.from_bytes(
      hashlib.sha256(i.encode()).digest()[:4], 'big') < 0.25 * 2**32}
  assert 30 < len(canary) < 70
  assert summary['labels']['canary']['model_versions'] == {'2': len(canary)}
  assert summary['labels']['stable']['model_versions'] == {
      '1': 200 - len(canary)}
  with open(out, newline='', encoding='utf-8') as f:
    written = list(csv.reader(f))[1:]
  assert sorted(r[0] for r in written) == sorted(ids)
  assert {r[0] for r in written if r[2] == '2'} == canary
  assert not list((tmp_path).glob('scores.csv.*'))  # no part files left
  assert server.core.request_logger.flush(timeout=30)
  from pipeline.monitoring import served_data  # pylint: disable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  rows = served_data.to_rows(read_logs(prefix), MODEL,
                             dataset_spec.load('cfpb')).rows
  assert {r[features.ID_KEY] for r in rows
          if r[served_data.VERSION] == 2} == canary
  if protocol == 'grpc':  # REST pins the version the label resolved to
    assert {r.get(served_data.LABEL) for r in rows
            if r[served_data.VERSION] == 2} == {'canary'}


@pytest.mark.parametrize('split', [[], ['--canary-share', '0.5']],
                         ids=['one-version', 'canary-share'])
def test_an_export_without_rows_scores_nothing_and_says_so(tmp_path, split):
  """A header and no complaint: a header-only output and a summary of
  zeros, with or without an A/B split (the split once ended in a
  traceback); no server is called, so none is needed."""
  export = tmp_path / 'empty.csv'
  export.write_text(','.join(cfpb_export.EXPORT_COLUMNS) + '\n')
  out = tmp_path / 'scores.csv'
  proc = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--complaints', str(export),
       '--out', str(out), '--port', str(free_port()), *split],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  assert (summary['rows'], summary['sent'], summary['failed']) == (0, 0, 0)
  assert out.read_text().splitlines() == [
      f'{features.ID_EXPORT_COLUMN},{features.OUTPUT_KEY},model_version']
