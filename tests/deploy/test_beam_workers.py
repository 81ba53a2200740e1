"""deploy/beam/: the pipeline's Beam work on worker pools in other hosts.

Two worker hosts (network namespaces) with one SDK worker pool each, the
job service on a third; the pipeline runs on them through the portable
runner and must compute what the local DirectRunner run computes (the
session's e2e run, same rows and settings): the same rows per split, the
same statistics, vocabularies and transformed rows, and Evaluator metrics
equal to TFMA's on the DirectRunner for the same model (to 1e-6). The
workers must have done the work: each pool started a worker, and each
worker host's interface carried the data. The checks themselves are shown
to see a difference on hand-written statistics and rows.

Needs root and iproute2 (CI runs as root on Debian 12; under CI=true a
skip is a failure).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from deploy.beam import cluster as cluster_lib
from deploy.beam import equivalence
from deploy.beam import settings as settings_lib
from tests.conftest import E2E_ARGS, REPO, run_pipeline

# Its own prefix and subnet: a cluster of `make beam-workers` may be up.
SETTINGS = settings_lib.ClusterSettings(workers=2, prefix='beamtest',
                                        subnet='10.213.250.0/24')
# Bytes a worker host's interface must carry: bundles of thousands of
# complaints (a few MB), far above the handshakes of an idle pool (~10 kB).
MIN_WORKER_BYTES = 1_000_000


def needs_root_and_ip():
  if os.geteuid() != 0:
    pytest.skip('network namespaces need root')
  if not shutil.which('ip'):
    pytest.skip('iproute2 (ip) is not installed')


def cli(*args):
  return subprocess.run([sys.executable, '-m', 'deploy.beam', *args],
                        cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def pools(tmp_path_factory):
  needs_root_and_ip()
  state_dir = str(tmp_path_factory.mktemp('beam-cluster'))
  cluster_lib.down(state_dir, SETTINGS)  # what a killed earlier run left
  cluster = cluster_lib.up(SETTINGS, state_dir)
  yield cluster
  cluster_lib.down(state_dir)


@pytest.fixture(scope='module')
def pools_run(pools, tmp_path_factory):
  before = pools.link_bytes()
  run = run_pipeline(tmp_path_factory.mktemp('portable'),
                     *pools.pipeline_flags())
  assert run.returncode == 0, run.stderr[-3000:]
  after = pools.link_bytes()
  traffic = {host: after[host]['rx_bytes'] + after[host]['tx_bytes'] -
             before[host]['rx_bytes'] - before[host]['tx_bytes']
             for host in after}
  return run, traffic


@pytest.mark.e2e
def test_the_pools_run_computes_what_the_local_run_computes(pools_run, e2e_run):
  run, _ = pools_run
  assert run.summary['rows_per_split'] == e2e_run.summary['rows_per_split']
  # The e2e run's own id: other tests add runs to its folder.
  found = equivalence.compare(str(e2e_run.output), str(run.output),
                              run_a=e2e_run.summary['run_id'])
  print(json.dumps(found, indent=1, default=str))
  assert found['examples']['equal'], found['examples']
  assert found['statistics']['equal'], found['statistics']
  assert found['statistics']['numbers'] > 1000
  assert found['vocabularies']['equal'], found['vocabularies']
  assert found['transformed_examples']['equal'], found['transformed_examples']
  # The Evaluator's Beam work, the model held fixed: its metrics on the
  # pools against TFMA on the DirectRunner (the models of the two runs
  # differ by the order Transform's shards feed the Trainer).
  assert found['evaluator']['equal'], found['evaluator']
  assert found['evaluator']['metrics'] > 100


@pytest.mark.e2e
def test_every_worker_host_did_part_of_the_work(pools, pools_run):
  _, traffic = pools_run
  for worker in pools.workers:
    assert traffic[worker.name] > MIN_WORKER_BYTES, traffic
  with open(pools.logs['dispatcher'], encoding='utf-8') as f:
    placed = f.read()
  for worker in pools.workers:
    assert f'-> pool {worker.address}:' in placed


def test_the_flags_name_the_head_and_the_workers(pools):
  flags = cli('args', '--state-dir', pools.state_dir)
  assert flags.returncode == 0, flags.stderr
  assert flags.stdout.split() == [
      '--beam-arg=--runner=PortableRunner',
      '--beam-arg=--job_endpoint=10.213.250.1:8099',
      '--beam-arg=--environment_type=EXTERNAL',
      '--beam-arg=--environment_config=10.213.250.1:50000',
      '--beam-arg=--direct_num_workers=2']
  status = cli('status', '--json', '--state-dir', pools.state_dir)
  state = json.loads(status.stdout)
  assert all(state['alive'].values()), state['alive']
  assert state['hosts'] == {'beamtest-head': '10.213.250.1',
                            'beamtest-worker-1': '10.213.250.11',
                            'beamtest-worker-2': '10.213.250.12'}


def test_a_second_cluster_on_the_same_names_is_refused(pools):
  again = cli('up', '--workers', '2', '--prefix', 'beamtest', '--subnet',
              '10.213.250.0/24', '--state-dir', pools.state_dir + '-other')
  assert again.returncode == 2
  assert again.stderr.startswith('error: ')
  assert 'already exist' in again.stderr and 'down' in again.stderr
  assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize('args, says', [
    (['up', '--workers', '0'], '--workers must be from 1 to 16, not 0'),
    (['up', '--prefix', 'Bad-Name'], '--prefix must be a lower-case letter'),
    (['up', '--subnet', '8.8.8.0/24'], '--subnet must be a private range'),
    (['up', '--subnet', '10.0.0.0/16'], '--subnet must be an IPv4 /24'),
    (['up', '--job-port', '50000'], '--job-port and --dispatcher-port'),
    (['args', '--prefix', 'nothere'], 'no cluster is up'),
    (['status', '--prefix', 'nothere'], 'no cluster is up'),
])
def test_bad_input_is_one_line_and_exit_2(args, says):
  done = cli(*args)
  assert done.returncode == 2, done.stdout + done.stderr
  assert done.stderr.startswith('error: ') and says in done.stderr
  assert len(done.stderr.strip().splitlines()) == 1
  assert 'Traceback' not in done.stderr


def _write_statistics(folder, count, histogram_count):
  """A StatisticsGen-like folder: one split, one numeric feature."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  dataset = stats.datasets.add(num_examples=1000)
  feature = dataset.features.add()
  feature.path.step.append('amount')
  feature.num_stats.common_stats.num_non_missing = count
  feature.num_stats.mean = 0.1 + 0.2  # a sum merged in another order
  feature.num_stats.histograms.add().buckets.add(
      low_value=1.0, high_value=100.0, sample_count=histogram_count)
  split = folder / 'Split-train'
  split.mkdir(parents=True)
  (split / 'FeatureStats.pb').write_bytes(stats.SerializeToString())
  return str(folder)


def test_the_statistics_check_sees_what_differs(tmp_path):
  same = _write_statistics(tmp_path / 'a', 990, 500.0)
  found = equivalence.statistics_differences(
      same, _write_statistics(tmp_path / 'b', 990, 500.0))
  assert found['beyond_tolerance'] == [] and found['numbers'] == found[
      'bit_equal'] and found['sketch']['numbers'] == 3
  # A histogram count 5 rows off (within 1% of 1,000 rows) is the sketch's
  # error; 20 rows off is not, and neither is one exact count.
  assert not equivalence.statistics_differences(
      same, _write_statistics(tmp_path / 'c', 990, 505.0))['beyond_tolerance']
  beyond = equivalence.statistics_differences(
      same, _write_statistics(tmp_path / 'd', 989, 520.0))['beyond_tolerance']
  assert len(beyond) == 2
  assert any('num_non_missing: 990 vs 989' in item for item in beyond)
  assert any('sample_count: 500.0 vs 520.0' in item for item in beyond)


def test_the_rows_check_sees_one_changed_row(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def write(folder, rows, shards):
    split = folder / 'Split-train'
    split.mkdir(parents=True)
    for shard in range(shards):
      with tf.io.TFRecordWriter(str(split / f'data-{shard}.gz'),
                                options='GZIP') as writer:
        for value in rows[shard::shards]:
          writer.write(tf.train.Example(features=tf.train.Features(feature={
              'product': tf.train.Feature(bytes_list=tf.train.BytesList(
                  value=[value.encode()]))})).SerializeToString())
    return equivalence.rows_digest(str(folder))['train']
  rows = [f'product {i}' for i in range(50)]
  one_file = write(tmp_path / 'a', rows, 1)
  reordered = write(tmp_path / 'b', rows[::-1], 3)
  changed = write(tmp_path / 'c', rows[:-1] + ['product x'], 1)
  assert one_file[:2] == reordered[:2] == (50, one_file[1])
  assert (one_file[2], reordered[2]) == (1, 3)
  assert changed[0] == 50 and changed[1] != one_file[1]
