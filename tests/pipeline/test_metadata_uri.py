"""--metadata mysql://...: parsed in pipeline.paths, refused in one line.

The server itself is in tests/pipeline/test_mariadb.py (e2e); here nothing
listens, so every case is answered before TFX or MLMD load.
"""

import socket
import subprocess
import sys

import pytest

from pipeline import paths
from tests.conftest import REPO


def _free_port() -> int:
  """A loopback port nothing listens on (bound once, then released)."""
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def test_a_full_uri_is_parsed_and_printed_without_its_password():
  location = paths.parse_metadata_uri(
      'mysql://tfx:p%40ss%3Aw%2Frd@db.example.org:3307/mlmd_1')
  assert (location.host, location.port, location.database, location.user,
          location.password) == ('db.example.org', 3307, 'mlmd_1', 'tfx',
                                 'p@ss:w/rd')
  assert location.is_mysql
  assert str(location) == 'mysql://tfx@db.example.org:3307/mlmd_1'
  assert 'p@ss' not in repr(location)


def test_password_and_port_may_be_left_out():
  location = paths.parse_metadata_uri('MySQL://reader@127.0.0.1/mlmd')
  assert (location.port, location.password) == (3306, '')


def test_connection_configs_for_the_runner_and_the_reader():
  location = paths.parse_metadata_uri('mysql://u:pw@h:1234/db')
  writer = location.connection_config()
  assert (writer.mysql.host, writer.mysql.port, writer.mysql.database,
          writer.mysql.user, writer.mysql.password) == ('h', 1234, 'db', 'u',
                                                        'pw')
  assert not writer.mysql.skip_db_creation
  assert location.connection_config(read_only=True).mysql.skip_db_creation
  sqlite = paths.RunPaths('/o').metadata
  assert not sqlite.is_mysql and str(sqlite) == '/o/metadata.sqlite'
  assert sqlite.connection_config().sqlite.filename_uri == '/o/metadata.sqlite'
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  assert (sqlite.connection_config(read_only=True).sqlite.connection_mode ==
          metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)


def test_run_paths_carry_the_database():
  given = paths.run_paths('/o', 'mysql://u@h:1/db')
  assert given.metadata.is_mysql and given.metadata_path == '/o/metadata.sqlite'
  assert paths.run_paths('/o').metadata.sqlite_path == '/o/metadata.sqlite'
  assert paths.metadata_location('/x.sqlite').sqlite_path == '/x.sqlite'


@pytest.mark.parametrize('uri, expected', [
    ('postgresql://u@h:5432/db', "the scheme must be mysql, not 'postgresql'"),
    ('sqlite:///tmp/m.sqlite', "the scheme must be mysql, not 'sqlite'"),
    ('127.0.0.1:3306/db', 'the scheme must be mysql'),
    ('mysql://h:3306/db', 'no USER'),
    ('mysql://u@:3306/db', 'no HOST'),
    ('mysql://u@h:3306', 'no DATABASE'),
    ('mysql://u@h:3306/a/b', 'DATABASE must be one name'),
    ('mysql://u@h:3306/my-db', 'DATABASE must be one name'),
    ('mysql://u@h:port/db', 'the port must be a number from 1 to 65535'),
    ('mysql://u@h:70000/db', 'the port must be a number from 1 to 65535'),
    ('mysql://u@h:3306/db?ssl=1', 'unexpected ?query'),
])
def test_malformed_uris_are_refused(uri, expected):
  with pytest.raises(paths.MetadataUriError, match='--metadata must be'):
    paths.parse_metadata_uri(uri)
  with pytest.raises(paths.MetadataUriError) as error:
    paths.parse_metadata_uri(uri)
  assert expected in str(error.value) and '\n' not in str(error.value)


def test_a_refused_uri_never_shows_its_password():
  with pytest.raises(paths.MetadataUriError) as error:
    paths.parse_metadata_uri('mysql://u:top@secret@h:1/a/b')
  assert 'secret' not in str(error.value) and 'top' not in str(error.value)
  with pytest.raises(paths.MetadataUriError) as error:
    paths.check_reachable(paths.parse_metadata_uri(
        f'mysql://u:hunter2@127.0.0.1:{_free_port()}/db'))
  assert 'hunter2' not in str(error.value)


def _pipeline(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


COMMANDS = [['run'], ['lineage'], ['runs'], ['compare', '1', '2'],
            ['monitor', '--logs', '/nonexistent/logs']]


@pytest.mark.parametrize('command', COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize('uri, expected', [
    ('mysql://u@h:3306', '--metadata must be mysql://USER[:PASSWORD]@HOST:'
     'PORT/DATABASE, not \'mysql://u@h:3306\': no DATABASE'),
    ('postgres://u:pw@h:5432/db', "the scheme must be mysql, not 'postgres'"),
    ('unreachable', 'cannot reach the ML Metadata database at mysql://u@'
     '127.0.0.1:{port}/mlmd: Connection refused'),
], ids=['malformed', 'scheme', 'unreachable'])
def test_every_command_refuses_a_bad_database_in_one_line(command, uri,
                                                          expected, tmp_path):
  port = _free_port()
  if uri == 'unreachable':
    uri, expected = (f'mysql://u:pw@127.0.0.1:{port}/mlmd',
                     expected.format(port=port))
  out = tmp_path / 'out'
  proc = _pipeline(*command, '--output', str(out), '--metadata', uri)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  assert expected in lines[0] and 'pw' not in lines[0], lines[0]
  assert not out.exists()  # refused before anything is written
