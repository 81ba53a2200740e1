"""Input data read from a DVC repository at a git revision, and its record.

Why: a team whose exports live in DVC wants a model to name the data
version it learned from in DVC's terms (repository, revision, DVC's hash),
not only a file path and its sha256. `run --data-repo DIR --data-rev REV`
reads each `--data` path (relative to DIR) at REV with `dvc.api.open`, the
pipeline converts the files into a span as usual, and `record` writes the
provenance beside the span (`span-N/sources.json`, which CsvExampleGen's
pattern `span-N/*.csv` does not read), where the lineage reads it back.

DVC lives in the MLflow/DVC venv (make/mlflow.mk: its dependencies are not
the TFX stacks'), so the files are read by that venv's Python in one
subprocess; the revision and the `.dvc` files are read with git. Every
failure is a DataVersionError with one line (exit 2), raised before
anything is written to --output.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
from typing import Any, Dict, List, Optional, Sequence

import yaml

from pipeline import paths as project_paths

SOURCES_FILE = 'sources.json'

# Reads every (path, destination) of argv's JSON with dvc.api.open, in the
# DVC venv: one process for all files (DVC takes seconds to import).
_READER = r'''
import json, shutil, sys
import dvc.api
repo, rev, pairs = json.loads(sys.argv[1])
for path, dest in pairs:
    with dvc.api.open(path, repo=repo, rev=rev, mode="rb") as src, \
            open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
'''


class DataVersionError(ValueError):
  """A repository, revision or path DVC cannot read: one line, exit 2."""


@dataclasses.dataclass(frozen=True)
class DataRequest:
  """--data-repo and --data-rev as given (rev defaults to HEAD)."""
  repo: str
  rev: str = 'HEAD'


@dataclasses.dataclass(frozen=True)
class Source:
  """One file read at a revision, and where it came from."""
  path: str          # relative to the repository, as given to --data
  repo: str
  rev: str           # as given (a tag, a branch, a commit)
  commit: str        # what rev resolved to
  dvc_file: str      # the .dvc file tracking it (the file's, or a folder's)
  dvc_md5: str       # DVC's hash in that .dvc file (a folder's ends .dir)
  sha256: str
  bytes: int
  local: str = dataclasses.field(default='', compare=False)  # fetched copy

  def record(self) -> Dict[str, Any]:
    found = dataclasses.asdict(self)
    found.pop('local')
    return found

  @property
  def label(self) -> str:
    """repo/path@rev, for a line of text."""
    return f'{os.path.join(self.repo, self.path)}@{self.rev}'


def check_request(repo: Optional[str], rev: Optional[str],
                  data: Optional[Sequence[str]]) -> Optional[DataRequest]:
  """The --data-repo/--data-rev pair, checked for shape only (no I/O)."""
  if rev and not repo:
    raise DataVersionError('--data-rev REV needs --data-repo DIR (the git + '
                           'DVC repository to read --data from)')
  if not repo:
    return None
  if not data:
    raise DataVersionError('--data-repo needs --data PATH: the file(s) to '
                           'read, relative to the repository')
  absolute = [p for p in data if os.path.isabs(p)]
  if absolute:
    raise DataVersionError(f'with --data-repo, --data is a path inside the '
                           f'repository, not {absolute[0]}')
  return DataRequest(os.path.abspath(repo), rev or 'HEAD')


def _git(repo: str, *args: str) -> subprocess.CompletedProcess:
  return subprocess.run(['git', '-C', repo, *args], capture_output=True,
                        text=True, timeout=60,
                        env=dict(os.environ, GIT_OPTIONAL_LOCKS='0'))


def resolve(request: DataRequest) -> str:
  """The commit REV names in the repository."""
  if not os.path.isdir(request.repo):
    raise DataVersionError(f'--data-repo {request.repo}: no such folder')
  if _git(request.repo, 'rev-parse', '--git-dir').returncode:
    raise DataVersionError(f'--data-repo {request.repo} is not a git '
                           'repository (DVC versions data in git)')
  found = _git(request.repo, 'rev-parse', '--verify', '--quiet',
               f'{request.rev}^{{commit}}')
  if found.returncode:
    raise DataVersionError(f'--data-rev {request.rev}: no such revision in '
                           f'{request.repo}')
  return found.stdout.strip()


def dvc_entry(repo: str, commit: str, path: str):
  """(the .dvc file, DVC's md5) of the file or of the folder holding it."""
  parts = path.replace(os.sep, '/').strip('/').split('/')
  for depth in range(len(parts), 0, -1):
    dvc_file = '/'.join(parts[:depth]) + '.dvc'
    shown = _git(repo, 'show', f'{commit}:{dvc_file}')
    if shown.returncode:
      continue
    try:
      outs = (yaml.safe_load(shown.stdout) or {}).get('outs') or [{}]
    except yaml.YAMLError:
      outs = [{}]
    md5 = outs[0].get('md5') or outs[0].get('etag')
    if md5:
      return dvc_file, md5
  raise DataVersionError(f'{path} is not tracked by DVC at {commit[:12]} in '
                         f'{repo} (no {path}.dvc: `dvc add {path}` and '
                         'commit it)')


def check_revision(request: DataRequest, data: Sequence[str]) -> str:
  """The commit, once every path is known to DVC there (git only, quick):
  a wrong revision or path is answered before anything is written."""
  commit = resolve(request)
  for path in data:
    dvc_entry(request.repo, commit, path)
  return commit


def dvc_python() -> str:
  """The DVC venv's Python (make mlflow-env)."""
  python = project_paths.TOOLS_PYTHON
  if not os.access(python, os.X_OK):
    raise DataVersionError(f'DVC is not installed: {python} is missing '
                           '(make mlflow-env)')
  return python


def _file_digest(path: str, name: str) -> str:
  digest = hashlib.new(name)
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def fetch(request: DataRequest, data: Sequence[str],
          folder: str) -> List[Source]:
  """Each path read at the revision into folder (which must exist).

  Raises:
    DataVersionError: no such repository or revision, a path DVC does not
      track there, DVC missing, or DVC failing to read (a remote without
      the data, say); the last line of DVC's own message is kept.
  """
  commit = resolve(request)
  entries = [dvc_entry(request.repo, commit, path) for path in data]
  python = dvc_python()
  pairs = [(path, os.path.join(folder, f'{i}-{os.path.basename(path)}'))
           for i, path in enumerate(data)]
  proc = subprocess.run(
      [python, '-c', _READER, json.dumps([request.repo, commit, pairs])],
      capture_output=True, text=True, timeout=1800,
      env=dict(os.environ, DVC_NO_ANALYTICS='1'))  # no call home
  if proc.returncode:
    last = (proc.stderr.strip().splitlines() or ['no message'])[-1]
    raise DataVersionError(f'DVC cannot read {", ".join(data)} at '
                           f'{request.rev} from {request.repo}: {last}')
  sources = []
  for (path, local), (dvc_file, md5) in zip(pairs, entries):
    if dvc_file == path + '.dvc' and _file_digest(local, 'md5') != md5:
      raise DataVersionError(f'{path} at {request.rev} does not match its '
                             f'DVC hash {md5} (a corrupted cache or remote)')
    sources.append(Source(path, request.repo, request.rev, commit, dvc_file,
                          md5, _file_digest(local, 'sha256'),
                          os.path.getsize(local), local))
  return sources


def record(span_dir: str, sources: Sequence[Source]) -> str:
  """Adds the sources to the span's record; returns its path.

  A span is reused when a revision holds the same content, so the record
  lists every revision that gave this content, oldest first.
  """
  path = os.path.join(span_dir, SOURCES_FILE)
  found = read(span_dir)
  for source in sources:
    if source.record() not in found:
      found.append(source.record())
  temp = path + '.tmp'
  with open(temp, 'w', encoding='utf-8') as f:
    json.dump({'sources': found}, f, indent=1)
  os.replace(temp, path)  # a reader never sees half a file
  return path


def read(span_dir: str) -> List[Dict[str, Any]]:
  """The sources recorded beside a span ([] when it came from elsewhere)."""
  path = os.path.join(span_dir, SOURCES_FILE)
  if not os.path.isfile(path):
    return []
  with open(path, encoding='utf-8') as f:
    return list(json.load(f).get('sources', []))
