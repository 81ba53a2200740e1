"""deploy/beam/: the pipeline's Beam work on worker pools in other hosts.

Two worker hosts (network namespaces) with one SDK worker pool each, the
job service on a third; the pipeline runs on them through the portable
runner and must compute what the local DirectRunner run computes (the
session's e2e run, same rows and settings): the same rows per split, the
same statistics, vocabularies and transformed rows, and Evaluator metrics
equal to TFMA's on the DirectRunner for the same model (to 1e-6). The
workers must have done the work: each pool started a worker, and each
worker host's interface carried the data.

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
