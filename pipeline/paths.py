"""Where everything lives: the one module that knows the project's paths.

The bottom floor of pipeline/: it imports nothing of the project, so the
wiring, the metadata readers, the reports and the CLI can all import it
without a cycle. Every path under a run's `--output` is a property of
`RunPaths`; nothing else rebuilds one from an artifact's URI.
"""

import dataclasses
import hashlib
import os
import re
import socket
import time
import urllib.parse
from typing import Iterable, List, Optional, Union

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(REPO_ROOT, 'pipeline')
COMPONENTS_DIR = os.path.join(REPO_ROOT, 'components')
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, 'runs', 'default')
GENERATED_DIR = os.path.join(REPO_ROOT, 'data', 'generated')
# MLflow and DVC, in their own venv (make mlflow-env): `dvc` runs from here,
# and the tests start `mlflow server` from it.
TOOLS_VENV = os.path.join(REPO_ROOT, '.venv-mlflow')
TOOLS_PYTHON = os.path.join(TOOLS_VENV, 'bin', 'python')
# Shipped with the package (setup.py's package_data): the pipeline refuses
# to run without it rather than infer a schema that would learn bad data.
CURATED_SCHEMA = os.path.join(PACKAGE_DIR, 'schema', 'schema.pbtxt')

# The files preprocessing_fn depends on: a change re-runs Transform.
TRANSFORM_CODE = ('features.py', 'transform.py')

METADATA_FILE = 'metadata.sqlite'
REPORTS_DIR = 'reports'
LOGS_DIR = 'logs'

METADATA_URI_FORMAT = 'mysql://USER[:PASSWORD]@HOST:PORT/DATABASE'
MYSQL_DEFAULT_PORT = 3306
_DATABASE_NAME = re.compile(r'[A-Za-z0-9_$]{1,64}')  # MLMD does not quote it


class MetadataUriError(ValueError):
  """A --metadata URI that is malformed, or a database it cannot reach."""


@dataclasses.dataclass(frozen=True)
class MetadataLocation:
  """Where ML Metadata lives: a SQLite file, or a MySQL/MariaDB database.

  The one description of a store that the runner (the TFX connection config)
  and the reader (`pipeline.metadata.store.open_store`) both build on.
  """
  sqlite_path: str = ''
  host: str = ''
  port: int = MYSQL_DEFAULT_PORT
  database: str = ''
  user: str = ''
  password: str = dataclasses.field(default='', repr=False)

  @property
  def is_mysql(self) -> bool:
    return bool(self.host)

  def __str__(self) -> str:
    """The SQLite path, or the URI without its password (safe to print)."""
    if not self.is_mysql:
      return self.sqlite_path
    host = f'[{self.host}]' if ':' in self.host else self.host
    return (f'mysql://{urllib.parse.quote(self.user, safe="")}@{host}:'
            f'{self.port}/{self.database}')

  def connection_config(self, read_only: bool = False):
    """MLMD's ConnectionConfig (SQLite read-only when read_only).

    MySQL has no read-only mode in MLMD; read_only there only refuses to
    create a missing database (a mistyped name is an error, not a new store).
    """
    from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
    config = metadata_store_pb2.ConnectionConfig()
    if self.is_mysql:
      config.mysql.host = self.host
      config.mysql.port = self.port
      config.mysql.database = self.database
      config.mysql.user = self.user
      config.mysql.password = self.password
      config.mysql.skip_db_creation = read_only
    else:
      config.sqlite.filename_uri = self.sqlite_path
      config.sqlite.connection_mode = (
          metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
          else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return config


def parse_metadata_uri(uri: str) -> MetadataLocation:
  """mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (PORT 3306 when left out).

  USER and PASSWORD may be percent-encoded (`p%40ss` for `p@ss`).

  Raises:
    MetadataUriError: a wrong scheme or a malformed URI, in one line.
  """
  def bad(why: str) -> MetadataUriError:
    shown = re.sub(r"(//[^:/@]*):.*@", r"\1:***@", uri)  # no password
    return MetadataUriError(f'--metadata must be {METADATA_URI_FORMAT}, not '
                            f'{shown!r}: {why}')
  parts = urllib.parse.urlsplit(uri.strip())
  if parts.scheme.lower() != 'mysql':
    raise bad(f"the scheme must be mysql, not {parts.scheme or 'none'!r} "
              '(SQLite, the default, needs no --metadata: '
              f'<output>/{METADATA_FILE})')
  try:
    port = parts.port
  except ValueError:
    raise bad('the port must be a number from 1 to 65535') from None
  if not parts.hostname:
    raise bad('no HOST')
  if not parts.username:
    raise bad('no USER')
  database = parts.path[1:]
  if not _DATABASE_NAME.fullmatch(database):
    raise bad('DATABASE must be one name of letters, digits, _ or $'
              if database else 'no DATABASE')
  if parts.query or parts.fragment or port == 0:
    raise bad('unexpected ' + ('port 0' if port == 0 else
                               '?query or #fragment'))
  return MetadataLocation(
      host=parts.hostname, port=port or MYSQL_DEFAULT_PORT, database=database,
      user=urllib.parse.unquote(parts.username),
      password=urllib.parse.unquote(parts.password or ''))


def metadata_location(where: Union[str, MetadataLocation]) -> MetadataLocation:
  """A location as given: a MetadataLocation, a mysql:// URI or a SQLite path."""
  if isinstance(where, MetadataLocation):
    return where
  if '://' in where:
    return parse_metadata_uri(where)
  return MetadataLocation(sqlite_path=where)


def check_reachable(location: MetadataLocation, timeout: float = 5.0) -> None:
  """Proves a MySQL server listens at the location (SQLite: nothing to do).

  Only the network: the credentials and the database are proved when MLMD
  connects (`pipeline.metadata.store.open_store`).

  Raises:
    MetadataUriError: nothing answers at HOST:PORT within timeout seconds.
  """
  if not location.is_mysql:
    return
  try:
    socket.create_connection((location.host, location.port), timeout).close()
  except OSError as error:
    reason = error.strerror or str(error) or type(error).__name__
    raise MetadataUriError(f'cannot reach the ML Metadata database at '
                           f'{location}: {reason}') from None


def metadata_database(uri: Optional[str]) -> Optional[MetadataLocation]:
  """--metadata as given on the command line, parsed and reached (or None)."""
  if not uri:
    return None
  location = parse_metadata_uri(uri)
  check_reachable(location)
  return location


@dataclasses.dataclass(frozen=True)
class RunPaths:
  """Everything one `--output` folder holds, and where."""
  output: str
  # --metadata mysql://...: ML Metadata in a database instead of the folder.
  metadata_database: Optional[MetadataLocation] = None

  @property
  def input_root(self) -> str:
    """Versioned input: span-N/complaints.csv (what CsvExampleGen reads)."""
    return os.path.join(self.output, 'input')

  @property
  def unlabelled_dir(self) -> str:
    """Rows without a label, kept apart (what a deployed model scores)."""
    return os.path.join(self.output, 'unlabelled')

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output, 'pipeline_root')

  @property
  def metadata_path(self) -> str:
    """The default store: the SQLite file in the folder."""
    return os.path.join(self.output, METADATA_FILE)

  @property
  def metadata(self) -> MetadataLocation:
    """Where this output's ML Metadata is: --metadata, else metadata_path."""
    return self.metadata_database or MetadataLocation(
        sqlite_path=self.metadata_path)

  @property
  def serving_dir(self) -> str:
    """Pushed models: <serving_dir>/<model name>/<version>/."""
    return os.path.join(self.output, 'serving')

  def model_dir(self, model_name: str) -> str:
    return os.path.join(self.serving_dir, model_name)

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.output, REPORTS_DIR)

  @property
  def monitoring_dir(self) -> str:
    """One folder per monitored window of served traffic."""
    return os.path.join(self.output, 'monitoring')

  @property
  def logs_dir(self) -> str:
    """One log file per run: everything the libraries printed."""
    return os.path.join(self.output, LOGS_DIR)

  def log_path(self, started: float) -> str:
    """<output>/logs/run-<UTC start time>.log."""
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(started))
    return os.path.join(self.logs_dir, f'run-{stamp}.log')


def run_paths(output: str,
              metadata: Union[None, str, MetadataLocation] = None) -> RunPaths:
  """RunPaths of an --output (made absolute) and --metadata as given."""
  return RunPaths(os.path.abspath(output),
                  metadata_location(metadata) if metadata else None)


def is_generated(path: str) -> bool:
  """Whether an export file lies in the generated-data folder."""
  return os.path.abspath(path).startswith(GENERATED_DIR + os.sep)


def components_files(names: Optional[Iterable[str]] = None) -> List[str]:
  """The .py files of components/ (all, or those named), sorted by name."""
  wanted = None if names is None else set(names)
  return [name for name in sorted(os.listdir(COMPONENTS_DIR))
          if name.endswith('.py') and (wanted is None or name in wanted)]


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def code_fingerprint(names: Optional[Iterable[str]] = None) -> str:
  """SHA-256 over module code in components/ (for cache invalidation).

  Module code wired by dotted path is not fingerprinted by TFX, so this is
  what the runner passes to Transform, Tuner and Trainer to key their cache.

  Args:
    names: file names to include; default every .py file in components/.
  """
  digest = hashlib.sha256()
  for name in components_files(names):
    with open(os.path.join(COMPONENTS_DIR, name), 'rb') as f:
      digest.update(name.encode() + b'\0' + f.read())
  return digest.hexdigest()[:16]


def beam_args(workers: int) -> List[str]:
  """DirectRunner arguments: in-process for 1 worker, else multi-processing."""
  if workers <= 1:
    return ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  return ['--direct_running_mode=multi_processing',
          f'--direct_num_workers={workers}']


# Beam's DirectRunner runs every worker in this interpreter's venv and
# stages nothing; told so, TFX stops packaging itself for it. Without any
# of Beam's dependency flags, each Beam component of a run copies the
# installed tfx package (about 49 MB) into a new temporary folder and builds
# an sdist there (tfx.utils.dependency_utils.build_ephemeral_package), which
# nothing ever deletes: four per run, 1,565 folders (76 GB) on this machine
# in one day. The file names no package: the DirectRunner never reads it.
DIRECT_RUNNER_REQUIREMENTS = os.path.join(REPO_ROOT, 'pipeline',
                                          'direct_runner_requirements.txt')


def local_beam_args(workers: int) -> List[str]:
  """beam_args for a run on this machine (the DirectRunner), with the
  dependency flag that keeps TFX from packaging itself per component."""
  return beam_args(workers) + [
      f'--requirements_file={DIRECT_RUNNER_REQUIREMENTS}']
