"""All configured models, their labels, config reloads and request routing.

The equivalent of TF Serving's ServerCore: it applies a ModelServerConfig
(adding, updating and removing models, each run by a ModelManager), keeps the
version labels, polls base paths and the config file, and resolves a
request's ModelSpec (name + version, label or latest) to a loaded Servable.
"""

import logging
import threading
import time
from typing import Dict, List, Optional

from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import model_manager
from serving import request_logger
from serving import server_config
from serving import servable as servable_lib
from serving import status

class ServerCore:
  """All configured models, their labels, and config reloads."""

  def __init__(self, options: server_config.ServerOptions, metrics,
               batcher=None):
    self.options = options
    self.metrics = metrics
    self.batcher = batcher
    self.config = model_server_config_pb2.ModelServerConfig()
    self._models: Dict[str, model_manager.ModelManager] = {}
    self._retired: Dict[str, model_manager.ModelManager] = {}
    self._labels: Dict[str, Dict[str, int]] = {}
    self._config_lock = threading.Lock()
    self._stop = threading.Event()
    self._poller: Optional[threading.Thread] = None
    self.request_logger = request_logger.ServerRequestLogger(options, metrics)
    self._tags = tuple(filter(None, (
        t.strip() for t in options.saved_model_tags.split(','))))

  # ---- configuration -------------------------------------------------------

  def reload_config(self, config) -> None:
    """Applies a ModelServerConfig (TF Serving's ServerCore::ReloadConfig).

    Invalid configs (duplicate names, bad platforms, labels on versions that
    are not available) are rejected whole and the current one stays.
    """
    with self._config_lock:
      server_config.validate_model_config_list(config)
      if config.WhichOneof('config') is None:
        logging.info('Taking no action for empty config.')
        return
      # Collectors first: an unknown type rejects the config before any
      # model changes (TF Serving's MaybeUpdateServerRequestLogger).
      loggers = self.request_logger.prepare(config)
      try:
        self._apply(config)
      except BaseException:
        self.request_logger.abort(loggers)
        raise
      self.request_logger.commit(loggers)

  def _apply(self, config) -> None:
    """The models part of reload_config (called with the lock held)."""
    old = self._models
    plan = []
    for model_config in config.model_config_list.config:
      manager = old.get(model_config.name)
      if manager is not None and (
          manager.config.base_path != model_config.base_path):
        manager = None
      plan.append((model_config, manager))
    labels = self._validate_labels(
        config, {mc.name: (m.serving if m else {}) for mc, m in plan})
    models, new_models = {}, []
    for model_config, manager in plan:
      if manager is None:
        if model_config.name in old:  # Same name, new base path.
          old[model_config.name].unload_all()
        manager = self._retired.pop(model_config.name, None)
        if manager is None or (
            manager.config.base_path != model_config.base_path):
          manager = model_manager.ModelManager(self, model_config)
        new_models.append(manager)
      manager.config = model_config
      models[model_config.name] = manager
    removed = [m for name, m in old.items() if name not in models]
    self._models = models
    for manager in removed:
      manager.unload_all()
      self._retired[manager.name] = manager
    self.config = config
    # New models are loaded before returning, as in TF Serving; existing
    # ones apply a changed version policy now rather than at the next poll.
    for manager in new_models + [m for m in models.values()
                                 if m not in new_models]:
      manager.poll()
    self._labels = labels

  def _validate_labels(self, config, serving) -> Dict[str, Dict[str, int]]:
    allow = self.options.allow_version_labels_for_unavailable_models
    labels: Dict[str, Dict[str, int]] = {}
    for model_config in config.model_config_list.config:
      for label, version in model_config.version_labels.items():
        existing = self._labels.get(model_config.name, {}).get(label)
        allowed = allow and (existing is None or existing == version)
        if not allowed and version not in serving[model_config.name]:
          raise status.failed_precondition(
              f'Request to assign label to version {version} of model '
              f'{model_config.name}, which is not currently available for '
              'inference')
        labels.setdefault(model_config.name, {})[label] = version
    return labels

  def start(self) -> None:
    """Polls base paths (and optionally the config file) in the background."""
    self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                    name='file_system_poll')
    self._poller.start()

  def _poll_loop(self) -> None:
    fs_wait = self.options.file_system_poll_wait_seconds
    config_wait = self.options.model_config_file_poll_wait_seconds
    next_config = time.monotonic() + config_wait
    while fs_wait > 0 or config_wait > 0:
      waits = [w for w in (fs_wait, config_wait) if w > 0]
      if self._stop.wait(min(waits)):
        return
      if (config_wait > 0 and self.options.model_config_file
          and time.monotonic() >= next_config):
        next_config = time.monotonic() + config_wait
        self._reload_config_file()
      if fs_wait > 0:
        for manager in list(self._models.values()):
          if self._stop.is_set():
            return
          try:
            manager.poll()
          except Exception:  # pylint: disable=broad-except
            logging.exception('Polling %s failed', manager.name)

  def _reload_config_file(self) -> None:
    try:
      config = server_config.read_model_server_config(
          self.options.model_config_file)
    except status.ServingError as e:
      logging.error('Failed to read ModelServerConfig file: %s', e.message)
      return
    if config == self.config:
      return
    try:
      self.reload_config(config)
      logging.info('Reloaded %s', self.options.model_config_file)
    except status.ServingError as e:
      logging.error('PollFilesystemAndReloadConfig failed to ReloadConfig: %s',
                    e.message)

  def stop(self) -> None:
    self._stop.set()
    if self._poller is not None:
      self._poller.join(timeout=30)
    for manager in list(self._models.values()):
      manager.unload_all()
    self.request_logger.close()

  # ---- requests ------------------------------------------------------------

  def servable(self, model_spec) -> servable_lib.Servable:
    """Resolves a ModelSpec like ServerCore::GetServableHandle."""
    choice = model_spec.WhichOneof('version_choice')
    return self.resolve(
        model_spec.name,
        model_spec.version.value if choice == 'version' else None,
        model_spec.version_label if choice == 'version_label' else None)

  def resolve(self, name: str, version: Optional[int] = None,
              label: Optional[str] = None) -> servable_lib.Servable:
    """`servable` on plain values: a version, a label, or neither (latest)."""
    if not name:
      raise status.invalid_argument('ModelSpec has no name specified.')
    manager = self._models.get(name)
    if label is not None:
      version = self._labels.get(name, {}).get(label)
      if version is None:
        raise status.invalid_argument(
            f'Unrecognized servable version label: {label}')
    elif version is None:
      servable = manager.latest() if manager else None
      if servable is None:
        raise status.not_found(f'Servable not found for request: Latest({name})')
      return servable
    servable = manager.serving.get(version) if manager else None
    if servable is None:
      raise status.not_found(
          f'Servable not found for request: Specific({name}, {version})')
    return servable

  def log_request(self, kind: str, servable, signature_name: str, request,
                  response) -> None:
    """Offers a successful call to the model's request loggers (if any).

    `request` / `response` may be callables building the protos: they run
    only for a sampled call, on the log writer's thread.
    """
    self.request_logger.log(kind, servable.name, servable.version,
                            signature_name, request, response, self._tags)

  def model_status(self, request) -> get_model_status_pb2.GetModelStatusResponse:
    if not request.HasField('model_spec'):
      raise status.invalid_argument('Missing ModelSpec')
    spec = request.model_spec
    manager = self._models.get(spec.name) or self._retired.get(spec.name)
    states = dict(manager.states) if manager else {}
    response = get_model_status_pb2.GetModelStatusResponse()
    if spec.HasField('version'):
      version = spec.version.value
      if version not in states:
        raise status.not_found(
            f'Could not find version {version} of model {spec.name}')
      selected = [states[version]]
    else:
      if not states:
        raise status.not_found(
            f'Could not find any versions of model {spec.name}')
      selected = [states[v] for v in sorted(states, reverse=True)]
    for state in selected:
      entry = response.model_version_status.add()
      entry.version = state.version
      entry.state = getattr(get_model_status_pb2.ModelVersionStatus, state.state)
      entry.status.SetInParent()  # TF Serving always sets it (OK by default).
      if state.error is not None:
        entry.status.error_code = _error_code_value(state.error.code)
        entry.status.error_message = state.error.message
    return response

  def model_names(self) -> List[str]:
    return sorted(self._models)

  def labels(self, model_name: str) -> Dict[str, int]:
    return dict(self._labels.get(model_name, {}))


def _error_code_value(code: str) -> int:
  from tensorflow_serving.apis import status_pb2  # pylint: disable=g-import-not-at-top
  enum = status_pb2.StatusProto.DESCRIPTOR.fields_by_name['error_code'].enum_type
  return enum.values_by_name[code].number
