"""The rolling window's resolver strategy, on a real ML Metadata store."""

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx.types import standard_artifacts

from components import window

COMPLETE = metadata_store_pb2.Execution.COMPLETE
FAILED = metadata_store_pb2.Execution.FAILED


@pytest.fixture
def store(tmp_path):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = str(tmp_path / 'metadata.sqlite')
  config.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
  return metadata_store.MetadataStore(config)


def _ingest(store, span):
  """An Examples artifact as ExampleGen records it (span: custom property)."""
  examples = standard_artifacts.Examples()
  examples.uri = f'/data/span-{span}'
  examples.set_int_custom_property('span', span)
  examples.type_id = store.put_artifact_type(
      metadata_store_pb2.ArtifactType(name='Examples'))
  [examples.id] = store.put_artifacts([examples.mlmd_artifact])
  return examples


def _transform(store, artifacts, state=COMPLETE,
               type_name='tfx.components.transform.component.Transform'):
  type_id = store.put_execution_type(
      metadata_store_pb2.ExecutionType(name=type_name))
  [execution_id] = store.put_executions([metadata_store_pb2.Execution(
      type_id=type_id, last_known_state=state)])
  store.put_events([metadata_store_pb2.Event(
      artifact_id=a.id, execution_id=execution_id,
      type=metadata_store_pb2.Event.INPUT) for a in artifacts])


def _resolve(store, artifacts, num_spans):
  found = window.RollingWindowStrategy(num_spans).resolve_artifacts(
      store, {'examples': artifacts})
  return [window.span_of(a) for a in found['examples']]


def test_the_latest_spans_oldest_first_with_the_newest_ingestion(store):
  spans = [_ingest(store, span) for span in (1, 2, 3)]
  _transform(store, spans[:2])   # spans 1 and 2 trained a model before
  assert _resolve(store, spans, 2) == [2, 3]
  assert _resolve(store, spans, 5) == [1, 2, 3]   # fewer than the window
  assert _resolve(store, spans, 1) == [3]


def test_a_span_no_transform_completed_on_stays_out(store):
  gated = _ingest(store, 1)            # the data gate stopped its run
  failed = _ingest(store, 2)           # Transform failed on it
  _transform(store, [failed], state=FAILED)
  validated = _ingest(store, 3)
  _transform(store, [validated])
  other = _ingest(store, 4)            # read by another component only
  _transform(store, [other], type_name='tfx.components.trainer.component.'
             'Trainer')
  current = _ingest(store, 5)          # this run's: its gate just passed
  assert _resolve(store, [gated, failed, validated, other, current],
                  3) == [3, 5]


def test_a_reingested_span_counts_once_as_its_newest_artifact(store):
  first = _ingest(store, 1)
  again = _ingest(store, 1)   # the same span ingested again later
  newest = _ingest(store, 2)
  _transform(store, [first, again])
  found = window.RollingWindowStrategy(2).resolve_artifacts(
      store, {'examples': [first, again, newest]})['examples']
  assert [a.id for a in found] == [again.id, newest.id]


def test_a_window_below_one_is_refused():
  with pytest.raises(ValueError, match='at least 1'):
    window.RollingWindowStrategy(0)
