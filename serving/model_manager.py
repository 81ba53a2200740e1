"""The versions of one model: what to load, load + warm up, unload.

The equivalent of TF Serving's FileSystemStoragePathSource + the
AspiredVersionsManager with the AvailabilityPreservingPolicy, for one model:
its base path is polled for numeric version directories; the versions its
`model_version_policy` aspires to are loaded and warmed up before they take
traffic, and versions that are no longer aspired are unloaded only once an
aspired one is available, so a version change never leaves a gap. A version
that fails to load (corrupt, half-written) is reported in the model status
and retried when its files change; the versions already serving keep
serving. The serving map is replaced, never mutated, so requests read it
without locks.
"""

import logging
import os
import threading
import time
from typing import Dict, List, Optional

from serving import servable as servable_lib
from serving import status
from serving import warmup

START, LOADING, AVAILABLE, UNLOADING, END = (
    'START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END')


class VersionState:
  """What GetModelStatus reports for one version."""

  def __init__(self, version: int, path: str):
    self.version = version
    self.path = path
    self.state = START
    self.error: Optional[status.ServingError] = None
    self.attempts = 0
    self.fingerprint = None
    self.retry_at = 0.0


def _fingerprint(path: str) -> tuple:
  entries = []
  for root, _, files in os.walk(path):
    for name in files:
      full = os.path.join(root, name)
      try:
        st = os.stat(full)
      except OSError:
        continue
      entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
  return tuple(sorted(entries))


def _versions_on_disk(base_path: str) -> Optional[Dict[int, str]]:
  try:
    names = os.listdir(base_path)
  except OSError:
    return None
  versions = {}
  for name in names:
    if name.isdigit() and os.path.isdir(os.path.join(base_path, name)):
      versions[int(name)] = os.path.join(base_path, name)
  return versions


def aspired_versions(policy, on_disk: List[int]) -> List[int]:
  """Versions a FileSystemStoragePathSource ServableVersionPolicy selects."""
  kind = policy.WhichOneof('policy_choice')
  if kind == 'all':
    return sorted(on_disk)
  if kind == 'specific':
    wanted = set(policy.specific.versions)
    return sorted(v for v in on_disk if v in wanted)
  count = policy.latest.num_versions if kind == 'latest' else 1
  return sorted(on_disk)[-max(count, 1):] if on_disk else []


class ModelManager:
  """Loads, warms up, serves and unloads the versions of one model."""

  def __init__(self, core, config):
    self._core = core
    self.config = config
    self.name = config.name
    self.serving: Dict[int, servable_lib.Servable] = {}
    self.states: Dict[int, VersionState] = {}
    self._lock = threading.Lock()
    self._warned_missing = False

  def latest(self) -> Optional[servable_lib.Servable]:
    serving = self.serving
    return serving[max(serving)] if serving else None

  def poll(self) -> None:
    """One pass of the version policy over the base path."""
    with self._lock:
      on_disk = _versions_on_disk(self.config.base_path)
      if on_disk is None:
        if not self._warned_missing:
          logging.warning('Could not find base path %s for servable %s',
                          self.config.base_path, self.name)
          self._warned_missing = True
        return
      self._warned_missing = False
      aspired = aspired_versions(self.config.model_version_policy,
                                 list(on_disk))
      if not on_disk:
        logging.warning('No versions of servable %s found under base path %s',
                        self.name, self.config.base_path)
      for version in aspired:
        if version not in self.serving:
          self._maybe_load(version, on_disk[version])
      serving_aspired = [v for v in aspired if v in self.serving]
      if serving_aspired or not aspired:
        for version in list(self.serving):
          if version not in aspired:
            self._unload(version)

  def _maybe_load(self, version: int, path: str) -> None:
    state = self.states.get(version)
    fingerprint = _fingerprint(path)
    if state is not None and state.state == END and state.error is not None:
      changed = fingerprint != state.fingerprint
      retries_left = state.attempts <= self._core.options.max_num_load_retries
      if not changed and (not retries_left or time.monotonic() < state.retry_at):
        return
      if changed:
        state.attempts = 0
    if state is None or state.path != path:
      state = self.states[version] = VersionState(version, path)
    state.fingerprint = fingerprint
    self._load(state)

  def _load(self, state: VersionState) -> None:
    core = self._core
    state.state, state.error = LOADING, None
    state.attempts += 1
    servable = servable_lib.Servable(
        self.name, state.version, state.path,
        core.options.saved_model_tags.split(','))
    try:
      seconds = servable.load()
      core.metrics.load_attempt_count.increment(state.path, 'success')
      core.metrics.load_latency.increment(state.path, by=int(seconds * 1e6))
      if core.batcher is not None:
        servable.set_batcher(core.batcher)
      if core.options.enable_model_warmup:
        warmup.run_warmup(servable,
                          core.options.num_request_iterations_for_warmup,
                          core.metrics,
                          all_signatures=core.options.warmup_all_signatures)
    except Exception as e:  # pylint: disable=broad-except
      error = status.from_tf_exception(e)
      if not isinstance(e, status.ServingError) or (
          error.code == status.INTERNAL):
        logging.exception('Loading %s version %d failed', self.name,
                          state.version)
      core.metrics.load_attempt_count.increment(state.path, 'fail')
      logging.error('Loading servable: {name: %s version: %d} failed: %s',
                    self.name, state.version, error.to_string())
      servable.release()
      state.state, state.error = END, error
      state.retry_at = (time.monotonic() +
                        core.options.load_retry_interval_micros / 1e6)
      return
    serving = dict(self.serving)
    serving[state.version] = servable
    self.serving = serving
    state.state = AVAILABLE
    logging.info('Successfully loaded servable version {name: %s version: '
                 '%d}', self.name, state.version)

  def _unload(self, version: int) -> None:
    state = self.states[version]
    state.state = UNLOADING
    serving = dict(self.serving)
    servable = serving.pop(version)
    self.serving = serving
    servable.unload()  # In-flight requests keep their own references.
    state.state, state.error = END, None
    logging.info('Unloaded servable version {name: %s version: %d}',
                 self.name, version)

  def unload_all(self) -> None:
    with self._lock:
      for version in list(self.serving):
        self._unload(version)
