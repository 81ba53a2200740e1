"""The read-only reader on a small real ML Metadata store, recorded here.

The store is written with ML Metadata's own API in the shape TFX gives it
(node and pipeline_run contexts, OUTPUT and INPUT events keyed by the
component's output names), so the walks are tested in seconds, without a
pipeline run.
"""

import hashlib

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.metadata import store

PIPELINE = 'consumer_complaints'


def _put_type(db, kind, name):
  message = {'artifact': pb.ArtifactType, 'execution': pb.ExecutionType,
             'context': pb.ContextType}[kind](name=name)
  return getattr(db, f'put_{kind}_type')(message)


def _event(kind, key):
  """An event as put_execution takes it (ids are filled in by the store)."""
  event = pb.Event(type=kind)
  event.path.steps.add().key = key
  event.path.steps.add().index = 0
  return event


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
  """Two runs: the first computes Examples and statistics, the second reuses
  the Examples (a CACHED execution with an OUTPUT event to them, as TFX's
  publisher records it) and computes new statistics from them."""
  path = str(tmp_path_factory.mktemp('mlmd') / 'metadata.sqlite')
  config = pb.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  db = mlmd.MetadataStore(config)
  examples_t = _put_type(db, 'artifact', 'Examples')
  stats_t = _put_type(db, 'artifact', 'ExampleStatistics')
  gen_t = _put_type(db, 'execution', 'tfx.components.CsvExampleGen')
  stats_gen_t = _put_type(db, 'execution', 'tfx.components.StatisticsGen')
  run_t = _put_type(db, 'context', 'pipeline_run')
  node_t = _put_type(db, 'context', 'node')
  nodes = {}
  for name in ('CsvExampleGen', 'StatisticsGen'):
    nodes[name] = pb.Context(type_id=node_t, name=f'{PIPELINE}.{name}')
    [nodes[name].id] = db.put_contexts([nodes[name]])
  ids = {}
  examples = pb.Artifact(type_id=examples_t, uri='/root/examples/1')
  for run in ('run-1', 'run-2'):
    run_context = pb.Context(type_id=run_t, name=run)
    [run_context.id] = db.put_contexts([run_context])
    contexts = lambda node: [run_context, nodes[node]]  # pylint: disable=cell-var-from-loop
    gen = pb.Execution(type_id=gen_t, last_known_state=(
        pb.Execution.COMPLETE if run == 'run-1' else pb.Execution.CACHED))
    gen.custom_properties['input_base'].string_value = '/data'
    ids[f'{run}.gen'], [examples.id], _ = db.put_execution(
        gen, [(examples, _event(pb.Event.OUTPUT, 'examples'))],
        contexts('CsvExampleGen'))
    ids['examples'] = examples.id
    stats = pb.Artifact(type_id=stats_t, uri=f'/root/statistics/{run}')
    ids[f'{run}.stats_gen'], _, _ = db.put_execution(
        pb.Execution(type_id=stats_gen_t,
                     last_known_state=pb.Execution.COMPLETE),
        [(examples, _event(pb.Event.INPUT, 'examples')),
         (stats, _event(pb.Event.OUTPUT, 'statistics'))],
        contexts('StatisticsGen'))
  del db  # close the writer: the reader must see everything on disk
  return path, ids


def _sha(path):
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def test_runs_nodes_and_outputs(recorded):
  path, ids = recorded
  graph = store.Graph.open(path)
  runs = graph.runs()
  assert [r.name for r in runs] == ['run-1', 'run-2']
  latest = graph.latest_per_node(runs[-1])
  assert sorted(latest) == ['CsvExampleGen', 'StatisticsGen']
  assert store.state_name(latest['CsvExampleGen']) == 'CACHED'
  # The cached reuse leads to the same Examples as the run that made them.
  assert graph.output(latest['CsvExampleGen'], 'examples').id == ids[
      'examples']
  assert graph.output(latest['StatisticsGen'], 'statistics').uri == (
      '/root/statistics/run-2')
  assert graph.input(latest['StatisticsGen'], 'examples').id == ids[
      'examples']
  assert graph.output(latest['StatisticsGen'], 'no such key') is None


def test_producer_is_the_execution_that_computed_not_the_cached_one(recorded):
  path, ids = recorded
  graph = store.Graph.open(path)
  examples = graph.store.get_artifacts_by_id([ids['examples']])[0]
  assert graph.producer(examples).id == ids['run-1.gen']
  consumers = graph.consumers(examples, 'StatisticsGen')
  assert [e.id for e in consumers] == [ids['run-1.stats_gen'],
                                       ids['run-2.stats_gen']]
  assert graph.consumers(examples, 'Trainer') == []
  assert graph.run_of(graph.producer(examples)).name == 'run-1'
  assert store.prop(graph.producer(examples), 'input_base') == '/data'


def test_reading_never_writes(recorded):
  path, _ = recorded
  before = _sha(path)
  graph = store.Graph.open(path)
  graph.runs()
  with pytest.raises(Exception):
    graph.store.put_artifact_type(pb.ArtifactType(name='Written'))
  assert _sha(path) == before


def test_a_missing_store_is_a_clear_error(tmp_path):
  with pytest.raises(store.NoMetadataError, match='no ML Metadata at'):
    store.Graph.open(str(tmp_path / 'metadata.sqlite'))
  assert not (tmp_path / 'metadata.sqlite').exists()


def test_file_hashes_are_computed_once_per_content(tmp_path, recorded):
  graph = store.Graph.open(recorded[0])
  data = tmp_path / 'complaints.csv'
  data.write_text('a,b\n1,2\n')
  first = graph.file_sha256(str(data))
  assert first == hashlib.sha256(b'a,b\n1,2\n').hexdigest()
  data.write_text('a,b\n1,2\n3,4\n')  # rewritten: hashed again
  assert graph.file_sha256(str(data)) == hashlib.sha256(
      b'a,b\n1,2\n3,4\n').hexdigest()
