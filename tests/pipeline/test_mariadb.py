"""ML Metadata on a real MariaDB: the pipeline run twice, cached, read back.

The test starts its own server from Debian's mariadb-server (`.ci/run`
installs it, nothing starts it): a fresh data directory, loopback only, a
free port, its own socket and pid file; stopped at the end, even on failure.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest

from tests.conftest import E2E_ARGS, E2E_ROWS, REPO

pytestmark = pytest.mark.e2e

# The e2e run's settings (4,000 rows, 150 steps), whose model clears the
# AUC gate on both stacks: 2,000 rows and 50 steps gave a model whose
# interval fell below it once the split was by Complaint ID.
ARGS = E2E_ARGS
USER, PASSWORD, DATABASE = 'tfx', 'p@ss:w/rd', 'mlmd'
SEARCH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/usr/bin'])


def _binary(*names):
  for name in names:
    found = shutil.which(name, path=SEARCH)
    if found:
      return found
  pytest.skip(f'MariaDB is not installed (no {names[0]}): apt-get install '
              'mariadb-server')


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def _sql(client, sock, statements):
  subprocess.run([client, '--no-defaults', f'--socket={sock}', '-uroot', '-e',
                  statements], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope='module')
def mariadb():
  """A throwaway MariaDB on 127.0.0.1; yields the --metadata URI."""
  mariadbd = _binary('mariadbd', 'mysqld')
  install_db = _binary('mariadb-install-db', 'mysql_install_db')
  client = _binary('mariadb', 'mysql')
  # A short folder: the socket path must stay under 108 bytes.
  work = tempfile.mkdtemp(prefix='mariadb-')
  datadir, sock = os.path.join(work, 'data'), os.path.join(work, 'sock')
  user = getpass.getuser()
  server = None
  try:
    subprocess.run(
        [install_db, '--no-defaults', f'--datadir={datadir}', f'--user={user}',
         '--auth-root-authentication-method=normal', '--skip-test-db'],
        check=True, capture_output=True, timeout=300)
    port = _free_port()
    server = subprocess.Popen(
        [mariadbd, '--no-defaults', f'--datadir={datadir}', f'--user={user}',
         f'--port={port}', f'--socket={sock}',
         f'--pid-file={os.path.join(work, "mariadbd.pid")}',
         '--skip-networking=0', '--bind-address=127.0.0.1',
         f'--log-error={os.path.join(work, "error.log")}',
         '--innodb-buffer-pool-size=64M', '--skip-log-bin'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
      try:
        _sql(client, sock, 'SELECT 1')
        break
      except subprocess.CalledProcessError:
        if server.poll() is not None or time.time() > deadline:
          with open(os.path.join(work, 'error.log'), encoding='utf-8',
                    errors='replace') as log:
            raise RuntimeError('mariadbd did not start: ' + log.read()[-2000:])
        time.sleep(0.2)
    _sql(client, sock,
         f"CREATE DATABASE {DATABASE}; CREATE USER '{USER}'@'127.0.0.1' "
         f"IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON {DATABASE}.* TO "
         f"'{USER}'@'127.0.0.1';")
    quoted = urllib.parse.quote(PASSWORD, safe='')
    yield f'mysql://{USER}:{quoted}@127.0.0.1:{port}/{DATABASE}'
  finally:
    if server is not None and server.poll() is None:
      server.send_signal(signal.SIGTERM)  # a clean shutdown
      try:
        server.wait(timeout=60)
      except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    shutil.rmtree(work, ignore_errors=True)


def _pipeline(*args, timeout=1500):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout)


def _summary(proc):
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  assert proc.returncode == 0, proc.stderr[-3000:]
  return summary_text.parse_json_summary(proc.stdout)


def test_pipeline_runs_caches_and_reads_back_from_mariadb(mariadb, tmp_path):
  out = tmp_path / 'out'
  first = _summary(_pipeline('run', '--output', str(out), '--metadata',
                             mariadb, *ARGS))
  # Recorded in MariaDB, not in the folder; the password nowhere in sight.
  assert first['metadata'] == f'mysql://{USER}@{mariadb.split("@")[1]}'
  assert not (out / 'metadata.sqlite').exists()
  assert first['blessed'] is True and first['push']['pushed'] is True
  version = first['push']['version']
  model_dir = out / 'serving' / 'complaints'
  assert sorted(os.listdir(model_dir)) == [version]
  for log in (out / 'logs').iterdir():
    assert PASSWORD not in log.read_text(errors='replace'), log

  second = _summary(_pipeline('run', '--output', str(out), '--metadata',
                              mariadb, *ARGS))
  states = {c['component']: c['state'] for c in second['components']
            if c['component'] != 'Resolver'}
  assert set(states) >= {'CsvExampleGen', 'StatisticsGen', 'Transform',
                         'Trainer', 'Evaluator', 'Pusher'}
  assert set(states.values()) == {'CACHED'}, states
  assert second['run_id'] != first['run_id']
  assert second['push']['version'] == version
  assert sorted(os.listdir(model_dir)) == [version]

  import json  # pylint: disable=g-import-not-at-top
  lineage = _pipeline('lineage', '--output', str(out), '--metadata', mariadb,
                      '--json', timeout=300)
  assert lineage.returncode == 0, lineage.stderr[-3000:]
  trail = json.loads(lineage.stdout)
  assert trail['push']['version'] == version
  assert trail['push']['run_id'] == first['run_id']
  assert trail['data']['span'] == first['span']
  assert sum(trail['data']['rows_per_split'].values()) == E2E_ROWS
  assert trail['blessing']['blessed'] is True

  listed = _pipeline('runs', '--output', str(out), '--metadata', mariadb,
                     '--json', timeout=300)
  assert listed.returncode == 0, listed.stderr[-3000:]
  runs = json.loads(listed.stdout)
  assert [r['run_id'] for r in runs] == [first['run_id'], second['run_id']]
  assert [r['pushed_version'] for r in runs] == [version, version]
  # The index page links the lineage command with the database, no password.
  index = (out / 'reports' / 'index.html').read_text()
  assert f'--metadata mysql://{USER}@127.0.0.1' in index
  assert PASSWORD not in index and urllib.parse.quote(PASSWORD) not in index

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import signatures  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(str(model_dir / version))
  scores = model.signatures['serving_default'](examples=tf.constant(
      [signatures.example_from_fields(
          dict(signatures.WARMUP_COMPLAINT)).SerializeToString()]))
  assert 0.0 < float(scores[signatures.OUTPUT_KEY].numpy().ravel()[0]) < 1.0


@pytest.mark.parametrize('change, expected', [
    (lambda uri: uri.replace(urllib.parse.quote(PASSWORD, safe=''), 'wrong'),
     'the server refused the login (user or password)'),
    (lambda uri: uri.replace(f'/{DATABASE}', '/missing'),
     "Access denied for user 'tfx'@'127.0.0.1' to database 'missing'"),
], ids=['password', 'database'])
@pytest.mark.parametrize('command', [['run'], ['runs']], ids=lambda c: c[0])
def test_a_database_that_refuses_is_one_line_and_exit_2(mariadb, tmp_path,
                                                        change, expected,
                                                        command):
  proc = _pipeline(*command, '--output', str(tmp_path / 'out'), '--metadata',
                   change(mariadb), *(ARGS if command == ['run'] else []),
                   timeout=300)
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith(
      'error: cannot open the ML Metadata database at mysql://tfx@'), lines
  assert expected in lines[0] and 'wrong' not in lines[0], lines
