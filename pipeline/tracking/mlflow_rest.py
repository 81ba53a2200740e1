"""The MLflow tracking server's REST API, the calls the pipeline makes.

Why not the `mlflow` package: MLflow 3 needs protobuf >= 4 and SQLAlchemy
2, which the TFX 1.16 stack cannot hold (protobuf 3.20.3), so MLflow lives
in its own venv (make/mlflow.mk) and this module speaks its documented REST
API (https://mlflow.org/docs/latest/api_reference/rest-api.html) with the
standard library: the same code on both stacks. Artifacts go through the
server's artifact proxy (`mlflow-artifacts:/`, the default of `mlflow
server`), so the pipeline needs no credentials of the artifact store.

Every failure is a TrackingError with one line (the CLI's exit 2).
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

ENV_TRACKING_URI = 'MLFLOW_TRACKING_URI'   # MLflow's own variable
API = '/api/2.0/mlflow'
ARTIFACTS_API = '/api/2.0/mlflow-artifacts/artifacts'
PROXY_SCHEME = 'mlflow-artifacts:'
# log-batch's limits (MLflow's REST API reference).
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
MAX_PARAM_VALUE = 6000


class TrackingError(RuntimeError):
  """The server cannot be reached or refused a call: one line, exit 2."""


class NotFound(TrackingError):
  """The server answered RESOURCE_DOES_NOT_EXIST."""


def tracking_uri(given: Optional[str]) -> Optional[str]:
  """--mlflow-tracking-uri, else $MLFLOW_TRACKING_URI (as MLflow does), else
  None: nothing is sent unless asked."""
  return given or os.environ.get(ENV_TRACKING_URI) or None


class Client:
  """One MLflow server at an http(s) URI."""

  def __init__(self, uri: str, timeout: float = 30.0):
    parts = urllib.parse.urlsplit(uri.strip())
    if parts.scheme not in ('http', 'https') or not parts.netloc:
      raise TrackingError(
          f'the MLflow tracking URI must be http(s)://HOST:PORT of a '
          f'tracking server (`mlflow server`), not {uri!r}')
    self.uri = uri.strip().rstrip('/')
    self.timeout = timeout

  def _request(self, method: str, path: str, body: Optional[bytes] = None,
               content_type: str = 'application/json') -> Any:
    request = urllib.request.Request(self.uri + path, data=body,
                                     method=method)
    if body is not None:
      request.add_header('Content-Type', content_type)
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        text = response.read().decode('utf-8')
    except urllib.error.HTTPError as error:
      detail = error.read().decode('utf-8', 'replace')
      try:
        found = json.loads(detail)
      except ValueError:
        found = {'message': detail.strip()[:200]}
      code = found.get('error_code', f'HTTP {error.code}')
      message = f'{code}: {found.get("message", "")}'.strip()
      if code == 'RESOURCE_DOES_NOT_EXIST' or error.code == 404:
        raise NotFound(f'MLflow at {self.uri}: {message}') from None
      raise TrackingError(f'MLflow at {self.uri} refused {method} {path}: '
                          f'{message}'.splitlines()[0]) from None
    except (OSError, ValueError) as error:  # URLError, timeouts, bad URLs
      reason = getattr(error, 'reason', None) or error
      raise TrackingError(f'cannot reach the MLflow tracking server at '
                          f'{self.uri}: {reason}') from None
    return json.loads(text) if text.strip() else {}

  def call(self, method: str, endpoint: str,
           payload: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One call of the tracking API: GET with a query, POST with JSON."""
    if method == 'GET':
      query = urllib.parse.urlencode(payload or {})
      return self._request('GET', f'{API}/{endpoint}' +
                           (f'?{query}' if query else ''))
    return self._request(method, f'{API}/{endpoint}',
                         json.dumps(payload or {}).encode('utf-8'))

  def check(self) -> None:
    """Proves a tracking server answers there (before anything is written)."""
    self.call('GET', 'experiments/search', {'max_results': 1})

  # Experiments and runs.
  def experiment_id(self, name: str) -> str:
    """The experiment of that name, created when missing."""
    try:
      found = self.call('GET', 'experiments/get-by-name',
                        {'experiment_name': name})
      return found['experiment']['experiment_id']
    except NotFound:
      return self.call('POST', 'experiments/create',
                       {'name': name})['experiment_id']

  def runs_tagged(self, experiment_id: str, key: str,
                  value: str) -> List[Dict[str, Any]]:
    """The runs of an experiment whose tag `key` is `value`."""
    escaped = value.replace("'", "\\'")
    found = self.call('POST', 'runs/search', {
        'experiment_ids': [experiment_id], 'max_results': 10,
        'filter': f"tags.`{key}` = '{escaped}'"})
    return found.get('runs', [])

  def create_run(self, experiment_id: str, name: str, start_ms: int,
                 tags: Dict[str, str]) -> Dict[str, Any]:
    return self.call('POST', 'runs/create', {
        'experiment_id': experiment_id, 'run_name': name,
        'start_time': start_ms,
        'tags': [{'key': k, 'value': v} for k, v in tags.items()]})['run']

  def log_batch(self, run_id: str, params: Dict[str, str],
                metrics: List[Dict[str, Any]], tags: Dict[str, str]) -> None:
    """All of a run's values, in as many batches as the API's limits need."""
    param_items = [{'key': k, 'value': v[:MAX_PARAM_VALUE]}
                   for k, v in params.items()]
    tag_items = [{'key': k, 'value': v} for k, v in tags.items()]
    for start in range(0, max(len(param_items), len(tag_items),
                              len(metrics), 1), MAX_PARAMS):
      self.call('POST', 'runs/log-batch', {
          'run_id': run_id,
          'params': param_items[start:start + MAX_PARAMS],
          'tags': tag_items[start:start + MAX_TAGS],
          'metrics': []})
    for start in range(0, len(metrics), MAX_METRICS):
      self.call('POST', 'runs/log-batch', {
          'run_id': run_id, 'metrics': metrics[start:start + MAX_METRICS]})

  def finish_run(self, run_id: str, end_ms: int, status: str) -> None:
    self.call('POST', 'runs/update', {'run_id': run_id, 'status': status,
                                      'end_time': end_ms})

  def upload(self, artifact_uri: str, local: str, path: str) -> None:
    """One file into a run's artifacts (artifact_uri: the run's), by the
    server's artifact proxy."""
    if not artifact_uri.startswith(PROXY_SCHEME):
      raise TrackingError(
          f'the run\'s artifacts go to {artifact_uri}, not through the '
          'server: start it with artifact proxying (`mlflow server '
          '--artifacts-destination DIR`, the default) so the pipeline needs '
          'no access to the store')
    where = artifact_uri[len(PROXY_SCHEME):].lstrip('/')
    with open(local, 'rb') as f:
      self._request('PUT', f'{ARTIFACTS_API}/{where}/'
                    + urllib.parse.quote(path), f.read(),
                    'application/octet-stream')

  def upload_tree(self, artifact_uri: str, folder: str, under: str) -> None:
    """Every file of a folder, at the same relative paths under `under`."""
    for root, _, files in os.walk(folder):
      for name in sorted(files):
        local = os.path.join(root, name)
        relative = os.path.relpath(local, folder).replace(os.sep, '/')
        self.upload(artifact_uri, local, f'{under}/{relative}')

  # The model registry.
  def ensure_registered_model(self, name: str, description: str) -> None:
    try:
      self.call('GET', 'registered-models/get', {'name': name})
    except NotFound:
      self.call('POST', 'registered-models/create',
                {'name': name, 'description': description})

  def model_versions(self, name: str) -> List[Dict[str, Any]]:
    escaped = name.replace("'", "\\'")
    return self.call('GET', 'model-versions/search', {
        'filter': f"name = '{escaped}'", 'max_results': 1000}).get(
            'model_versions', [])

  def create_model_version(self, name: str, source: str, run_id: str,
                           tags: Dict[str, str],
                           description: str) -> Dict[str, Any]:
    return self.call('POST', 'model-versions/create', {
        'name': name, 'source': source, 'run_id': run_id,
        'description': description,
        'tags': [{'key': k, 'value': v} for k, v in tags.items()]})[
            'model_version']

  def set_alias(self, name: str, alias: str, version: str) -> None:
    self.call('POST', 'registered-models/alias',
              {'name': name, 'alias': alias, 'version': version})

  def delete_alias(self, name: str, alias: str) -> None:
    """Removes an alias (nothing to do when it is not set)."""
    fields = {'name': name, 'alias': alias}
    try:
      self._request('DELETE', f'{API}/registered-models/alias?'
                    + urllib.parse.urlencode(fields),
                    json.dumps(fields).encode('utf-8'))
    except NotFound:
      pass


def connect(given: Optional[str]) -> Optional['Client']:
  """The MLflow server of --mlflow-tracking-uri or $MLFLOW_TRACKING_URI,
  proved to answer before anything is sent or moved (None: not asked).

  Raises:
    ValueError: one line, for the command to print (a malformed URI, a
      server not there).
  """
  uri = tracking_uri(given)
  if not uri:
    return None
  try:
    client = Client(uri)
    client.check()
  except TrackingError as error:
    raise ValueError(str(error)) from None
  return client


def tags_of(entity: Dict[str, Any]) -> Dict[str, str]:
  """A run's or model version's tags as a dict (the API sends a list)."""
  found = entity.get('data', entity).get('tags', [])
  return {t['key']: t.get('value', '') for t in found}

