"""Resolver strategy: the Examples of the latest N spans ExampleGen ingested.

Retraining on a rolling window of spans is TFX's `RollingRange`, but its
resolver ops sort by the Examples artifact's `span` *property*, while the
file-based ExampleGen of TFX 1.16 records the span as a *custom* property:
every artifact reads as span 0, and the window collapses to the newest
artifact (checked against this pipeline's store). This strategy reads the
span ExampleGen records, keeps the newest artifact of each span (a span
re-ingested after its file changed supersedes the older ingestion), and
returns the latest `num_spans` spans, oldest first.

Only data that passed validation joins the window: the resolver runs after
this run's data gate, so this run's span (the newest ingestion) has passed
it; an older ingestion counts once a Transform completed on it (Transform
runs only behind the gate), so a span the gate stopped never trains a model.
"""

from typing import Dict, Iterable, List, Optional, Set

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

SPAN = 'span'  # the custom property ExampleGen writes
NODE_ID = 'training_window'


def span_of(artifact: types.Artifact) -> int:
  return (artifact.get_int_custom_property(SPAN)
          if artifact.has_custom_property(SPAN) else 0)


def trained_on(store, artifact_ids: Iterable[int]) -> Set[int]:
  """The ids among artifact_ids that a completed Transform has read."""
  ids = list(artifact_ids)
  if not ids:
    return set()
  events = [e for e in store.get_events_by_artifact_ids(ids)
            if e.type == metadata_store_pb2.Event.INPUT]
  executions = {e.id: e for e in store.get_executions_by_id(
      {event.execution_id for event in events})}
  transform_types = {t.id for t in store.get_execution_types()
                     if t.name.endswith('.Transform')}
  done = (metadata_store_pb2.Execution.COMPLETE,
          metadata_store_pb2.Execution.CACHED)
  return {event.artifact_id for event in events
          if executions[event.execution_id].type_id in transform_types
          and executions[event.execution_id].last_known_state in done}


def latest_spans(artifacts: List[types.Artifact], num_spans: int,
                 validated: Set[int]) -> List[types.Artifact]:
  """The newest artifact of each of the latest num_spans spans, by span,
  among the newest artifact and those whose ids are in validated."""
  if not artifacts:
    return []
  current = max(a.id for a in artifacts)
  newest: Dict[int, types.Artifact] = {}
  for artifact in artifacts:
    if artifact.id != current and artifact.id not in validated:
      continue
    span = span_of(artifact)
    if span not in newest or artifact.id > newest[span].id:
      newest[span] = artifact
  return [newest[span] for span in sorted(newest)[-num_spans:]]


class RollingWindowStrategy(resolver.ResolverStrategy):
  """The latest `num_spans` spans of every input channel."""

  def __init__(self, num_spans: int):
    if num_spans < 1:
      raise ValueError(f'num_spans must be at least 1, not {num_spans}')
    self._num_spans = num_spans

  def resolve_artifacts(
      self, store, input_dict: Dict[str, List[types.Artifact]]
  ) -> Optional[Dict[str, List[types.Artifact]]]:
    return {key: latest_spans(artifacts, self._num_spans,
                              trained_on(store, (a.id for a in artifacts)))
            for key, artifacts in input_dict.items()}
