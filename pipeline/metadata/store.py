"""The one reader of ML Metadata: read-only, following events and contexts.

Lineage, the run list, the run summary and the reports all ask this module.
It follows MLMD's events (which execution read or wrote which artifact) and
contexts (which run and which pipeline node an execution belongs to) rather
than guessing from paths under the pipeline root, and it never writes:
looking at a run must never change its record.

The store is a SQLite file (the default, opened read-only) or a MySQL/MariaDB
database (`--metadata mysql://...`), and `open_store` is the one way anything
in the project opens it for reading. MLMD has no read-only mode for MySQL:
there the reader never writes by construction -- this module calls only
MLMD's get_* methods, never a put_* -- and it connects without creating a
missing database. (Connecting to an existing but empty database lets MLMD
create its empty tables, as every MLMD client does; no record is written.)
"""

import collections
import contextlib
import json
import os
import sys
from typing import Any, Dict, List, Optional, Union

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import paths as project_paths

Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
_READS = (Event.INPUT,)
_WRITES = (Event.OUTPUT, Event.INTERNAL_OUTPUT)


class NoMetadataError(RuntimeError):
  """The output folder has no ML Metadata (no run was made there)."""


class MetadataConnectError(NoMetadataError):
  """A MySQL/MariaDB store that refused the connection (user, database)."""


Location = Union[str, project_paths.MetadataLocation]


@contextlib.contextmanager
def _stderr_muted():
  """File descriptor 2 to /dev/null for a moment (native code writes there)."""
  sys.stderr.flush()
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def open_store(location: Location) -> mlmd.MetadataStore:
  """The store at a location, for reading: looking never changes a record.

  Args:
    location: a `paths.MetadataLocation` (`RunPaths.metadata`), a mysql://
      URI, or the path of a SQLite file.

  Raises:
    NoMetadataError: no SQLite file there (no run was made).
    MetadataConnectError: MySQL refused the user, password or database.
  """
  location = project_paths.metadata_location(location)
  if not location.is_mysql:
    if not os.path.isfile(location.sqlite_path):
      raise NoMetadataError(f'no ML Metadata at {location.sqlite_path}: run '
                            '`python -m pipeline run --output ...` there '
                            'first')
    return mlmd.MetadataStore(location.connection_config(read_only=True))
  try:
    with _stderr_muted():  # MLMD's C++ logs a failed login there, unasked
      return mlmd.MetadataStore(location.connection_config(read_only=True))
  except RuntimeError as error:
    # MLMD's message names the failed MySQL call; an empty one after
    # mysql_real_connect is a refused login.
    reason = str(error).rsplit('error: ', 1)[-1].strip() or (
        'the server refused the login (user or password)')
    raise MetadataConnectError(f'cannot open the ML Metadata database at '
                               f'{location}: {reason}') from None


def value(prop) -> Any:
  """The Python value of an MLMD (custom) property."""
  kind = prop.WhichOneof('value')
  if kind == 'struct_value':
    from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
    return json_format.MessageToDict(prop.struct_value)
  return getattr(prop, kind) if kind else None


def prop(node, name: str, default=None) -> Any:
  """A property or custom property of an artifact, execution or context."""
  for props in (node.properties, node.custom_properties):
    if name in props:
      return value(props[name])
  return default


def json_prop(node, name: str, default=None) -> Any:
  """A property holding JSON (TFX stores exec properties as JSON strings)."""
  raw = prop(node, name)
  if not isinstance(raw, str):
    return default if raw is None else raw
  try:
    return json.loads(raw)
  except ValueError:
    return raw


def state_name(execution) -> str:
  return Execution.State.Name(execution.last_known_state)


class Graph:
  """Cached, read-only walks over one metadata store."""

  def __init__(self, store: mlmd.MetadataStore):
    self.store = store
    self._artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    self._events_by_execution = {}
    self._events_by_artifact = {}
    self._node_ids = {}
    self._file_hashes = {}

  @classmethod
  def open(cls, location: Location) -> 'Graph':
    """A graph over the store at a location (see open_store)."""
    return cls(open_store(location))

  def file_sha256(self, path: str) -> str:
    """The content hash of a file MLMD points to, computed once per graph.

    Keyed by size and mtime as well, so a file rewritten meanwhile is hashed
    again rather than reported with its old hash.
    """
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in self._file_hashes:
      self._file_hashes[key] = project_paths.file_sha256(path)
    return self._file_hashes[key]

  def type_of(self, artifact) -> str:
    return self._artifact_types.get(artifact.type_id, '')

  def node_id(self, execution) -> str:
    """The pipeline node ('Trainer', 'latest_blessed_model_resolver', ...)."""
    if execution.id not in self._node_ids:
      names = [c.name for c in self.store.get_contexts_by_execution(
          execution.id) if c.type == 'node']
      self._node_ids[execution.id] = (names[0].split('.', 1)[-1] if names
                                      else execution.type.split('.')[-1])
    return self._node_ids[execution.id]

  def _execution_events(self, execution_id: int) -> List[Any]:
    if execution_id not in self._events_by_execution:
      self._events_by_execution[execution_id] = (
          self.store.get_events_by_execution_ids([execution_id]))
    return self._events_by_execution[execution_id]

  def _artifact_events(self, artifact_id: int) -> List[Any]:
    if artifact_id not in self._events_by_artifact:
      self._events_by_artifact[artifact_id] = (
          self.store.get_events_by_artifact_ids([artifact_id]))
    return self._events_by_artifact[artifact_id]

  def _artifacts_by_key(self, execution_id: int,
                        types) -> Dict[str, List[Any]]:
    events = [e for e in self._execution_events(execution_id)
              if e.type in types]
    artifacts = {a.id: a for a in self.store.get_artifacts_by_id(
        sorted({e.artifact_id for e in events}))}
    found = collections.defaultdict(list)
    for event in events:
      keys = [s.key for s in event.path.steps if s.HasField('key')]
      found[keys[0] if keys else ''].append(artifacts[event.artifact_id])
    return dict(found)

  def inputs(self, execution) -> Dict[str, List[Any]]:
    return self._artifacts_by_key(execution.id, _READS)

  def outputs(self, execution) -> Dict[str, List[Any]]:
    return self._artifacts_by_key(execution.id, _WRITES)

  def input(self, execution, key: str):
    found = self.inputs(execution).get(key) or []
    return found[0] if found else None

  def output(self, execution, key: str):
    found = self.outputs(execution).get(key) or []
    return found[0] if found else None

  def producer(self, artifact) -> Optional[Any]:
    """The execution that computed the artifact (not a cached reuse of it)."""
    ids = sorted({e.execution_id for e in self._artifact_events(artifact.id)
                  if e.type in _WRITES})
    executions = self.store.get_executions_by_id(ids)
    computed = [e for e in executions
                if e.last_known_state == Execution.COMPLETE]
    return min(computed or executions, key=lambda e: e.id, default=None)

  def consumers(self, artifact, node: str = '') -> List[Any]:
    """Executions that read the artifact, oldest first (of `node` only)."""
    ids = sorted({e.execution_id for e in self._artifact_events(artifact.id)
                  if e.type in _READS})
    executions = self.store.get_executions_by_id(ids)
    return sorted(
        (e for e in executions if not node or self.node_id(e) == node),
        key=lambda e: e.id)

  def runs(self) -> List[Any]:
    """pipeline_run contexts, oldest first."""
    return sorted(self.store.get_contexts_by_type('pipeline_run'),
                  key=lambda c: (c.create_time_since_epoch, c.id))

  def run_of(self, execution) -> Optional[Any]:
    runs = [c for c in self.store.get_contexts_by_execution(execution.id)
            if c.type == 'pipeline_run']
    return runs[0] if runs else None

  def run_executions(self, run) -> List[Any]:
    return sorted(self.store.get_executions_by_context(run.id),
                  key=lambda e: e.id)

  def latest_per_node(self, run) -> Dict[str, Any]:
    """The last execution of each pipeline node in a run, by node id."""
    nodes = {}
    for execution in self.run_executions(run):
      nodes[self.node_id(execution)] = execution
    return nodes

  def artifacts_of_type(self, type_name: str) -> List[Any]:
    return sorted(self.store.get_artifacts_by_type(type_name),
                  key=lambda a: a.id)
