"""Every benchmark result file says what made it: the command and the commit.

A figure in a README is only as good as the way back to what produced it.
Each result file written through `write` carries a `made_by` block: the
command line as it was typed (`python -m benchmarks.<name> ...`), the git
commit of the checkout (with `dirty: true` when tracked files differed from
it, so a figure from uncommitted code is never mistaken for one from the
commit; the result file itself does not count, since a benchmark that
writes after every size has changed it by its second write), the UTC time
and the machine. Files are written to a temporary
name and renamed: never half-written.
"""

import datetime
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> Optional[str]:
  try:
    done = subprocess.run(['git', *args], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return done.stdout.strip() if done.returncode == 0 else None


def command_line() -> str:
  """How this process was started, as a person would type it."""
  argv = list(sys.argv)
  main = sys.modules.get('__main__')
  spec = getattr(main, '__spec__', None)
  if spec is not None and spec.name:  # python -m package.module
    module = spec.name[:-len('.__main__')] if spec.name.endswith(
        '.__main__') else spec.name
    return ' '.join(['python', '-m', module, *argv[1:]])
  return ' '.join(['python', *argv])


def made_by(result_path: Optional[str] = None) -> Dict[str, Any]:
  """The command, commit and machine behind a result file (result_path:
  the file being written, left out of the dirty check)."""
  pathspec = ['--', '.']
  if result_path:
    pathspec.append(':(exclude)' + os.path.relpath(
        os.path.abspath(result_path), REPO))
  status = _git('status', '--porcelain', '--untracked-files=no', *pathspec)
  return {
      'command': command_line(),
      'commit': _git('rev-parse', 'HEAD'),
      'dirty': bool(status) if status is not None else None,
      'utc': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'python': platform.python_version(),
      'cpus': os.cpu_count(),
  }


def write(path: str, results: Dict[str, Any], indent: int = 2) -> None:
  """Writes results with their `made_by` block (a temporary file renamed)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  stamped = dict(results, made_by=made_by(path))
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(stamped, f, indent=indent, default=str)
    f.write('\n')
  os.replace(path + '.tmp', path)
  print('wrote', path, flush=True)
