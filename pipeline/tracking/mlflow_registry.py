"""The MLflow model registry as a mirror of what the model server serves.

Why a mirror and not the source: the server's model config file (its
version labels) decides what is served, as TF Serving's does; MLflow shows
it to people who look there. Each pushed model is a version of the
registered model named like the served model, holding the SavedModel as
its artifact and its TF Serving version number as a tag; the labels
`stable` and `canary` become aliases of the matching versions when the
loop or `serving.promote` moves them.

Imports nothing of TensorFlow or ML Metadata: `serving.promote` uses it.
"""

from typing import Dict, Mapping, Optional

from pipeline.tracking import mlflow_rest

SERVING_VERSION_TAG = 'serving_version'   # the TF Serving version number
SERVER_LABELS = ('stable', 'canary')      # the labels the loop and promote move
MODEL_ARTIFACT = 'model'                  # the SavedModel in the run


def registered_versions(client: mlflow_rest.Client,
                        model_name: str) -> Dict[str, str]:
  """{TF Serving version: MLflow version} of a registered model."""
  try:
    found = client.model_versions(model_name)
  except mlflow_rest.NotFound:
    return {}
  return {mlflow_rest.tags_of(v).get(SERVING_VERSION_TAG): str(v['version'])
          for v in found if mlflow_rest.tags_of(v).get(SERVING_VERSION_TAG)}


def register(client: mlflow_rest.Client, model_name: str, run: Dict,
             version_dir: str, serving_version: str,
             pipeline_run_id: str) -> str:
  """The MLflow version of a pushed model, registered once (idempotent).

  Args:
    run: the MLflow run (runs/create's answer) the model is logged to.
    version_dir: the pushed SavedModel (<serving>/<model>/<version>).
  """
  client.ensure_registered_model(
      model_name, f'The model the TF Serving-compatible server serves as '
      f'{model_name!r}; versions are its pushed versions, aliases its labels.')
  known = registered_versions(client, model_name)
  if serving_version in known:
    return known[serving_version]
  info = run['info']
  client.upload_tree(info['artifact_uri'], version_dir, MODEL_ARTIFACT)
  created = client.create_model_version(
      model_name, f"{info['artifact_uri']}/{MODEL_ARTIFACT}", info['run_id'],
      {SERVING_VERSION_TAG: serving_version,
       'mlmd.run_id': pipeline_run_id},
      f'TF Serving version {serving_version}, pushed by run '
      f'{pipeline_run_id}')
  return str(created['version'])


def mirror_labels(client: mlflow_rest.Client, model_name: str,
                  labels: Mapping[str, int]) -> Dict[str, Optional[str]]:
  """The server's labels of a model as its aliases, exactly: an alias per
  label, and `stable` or `canary` removed when the server has no such label
  any more (a canary's test is over).

  Returns {label: MLflow version, or None when that serving version is
  not registered (not synced yet)}.
  """
  known = registered_versions(client, model_name)
  moved: Dict[str, Optional[str]] = {}
  for label, serving_version in sorted(labels.items()):
    version = known.get(str(serving_version))
    if version is not None:
      client.set_alias(model_name, label, version)
    moved[label] = version
  if known:
    for label in SERVER_LABELS:
      if label not in labels:
        client.delete_alias(model_name, label)
  return moved


def missing_line(model_name: str, moved: Mapping[str, Optional[str]],
                 labels: Mapping[str, int]) -> Optional[str]:
  """One warning line for labels whose version MLflow does not hold."""
  missing = [f'{label} (version {labels[label]})'
             for label, version in moved.items() if version is None]
  if not missing:
    return None
  return (f'MLflow has no registered version of {model_name} for '
          f'{", ".join(missing)}: run `python -m pipeline mlflow-sync` '
          'first; those aliases were not moved')
