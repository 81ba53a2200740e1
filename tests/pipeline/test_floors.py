"""The project's import graph: no cycle anywhere, and pipeline/ in floors.

Read from the source (every import, at module level or inside a function),
so a cycle hidden behind a function-level import is found too.
"""

import ast
import pathlib
from typing import Dict, Set

from tests.conftest import REPO

PACKAGES = ('components', 'data', 'pipeline', 'serving', 'benchmarks',
            'orchestration', 'deploy')

# pipeline/'s floors, bottom first: a module imports only from floors below
# its own, or from its own sub-package.
FLOORS = [
    {'pipeline.paths', 'pipeline.config', 'pipeline.output_lock'},
    {'pipeline.input_data', 'pipeline.pipeline', 'pipeline.schema.curate',
     'pipeline.dataset_draft', 'pipeline.data_versions',
     'pipeline.time_spans'},
    {'pipeline.metadata'},
    {'pipeline.monitoring'},
    {'pipeline.reports', 'pipeline.progress'},
    {'pipeline.local_runner', 'pipeline.kubeflow', 'pipeline.tracking'},
    {'pipeline.loop', 'pipeline.period_runs'},
    {'pipeline.period_loop'},
    {'pipeline.cli', 'pipeline.__main__'},
]


def module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(REPO).with_suffix('').parts)
  if parts[-1] == '__init__':
    parts.pop()
  return '.'.join(parts)


def project_modules() -> Dict[str, pathlib.Path]:
  return {module_name(p): p for package in PACKAGES
          for p in (REPO / package).rglob('*.py')}


def imports_of(path: pathlib.Path, known: Set[str]) -> Set[str]:
  """Project modules a file imports (a package's __init__ for a package)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [f'{node.module}.{alias.name}' for alias in node.names]
      names = [n if n in known else node.module for n in names]
    else:
      continue
    found.update(n for n in names if n in known)
  return found


def import_graph() -> Dict[str, Set[str]]:
  modules = project_modules()
  return {name: imports_of(path, set(modules)) - {name}
          for name, path in modules.items()}


def find_cycle(graph: Dict[str, Set[str]]):
  """One cycle as a list of modules, or None (iterative DFS, three colours)."""
  state = {}
  for start in sorted(graph):
    if start in state:
      continue
    stack = [(start, iter(sorted(graph[start])))]
    path = [start]
    state[start] = 'open'
    while stack:
      node, children = stack[-1]
      child = next(children, None)
      if child is None:
        stack.pop()
        path.pop()
        state[node] = 'done'
      elif state.get(child) == 'open':
        return path[path.index(child):] + [child]
      elif child not in state:
        state[child] = 'open'
        stack.append((child, iter(sorted(graph.get(child, ())))))
        path.append(child)
  return None


def floor_of(module: str) -> int:
  for level, members in enumerate(FLOORS):
    if any(module == m or module.startswith(m + '.') for m in members):
      return level
  raise AssertionError(f'{module} is on no floor: add it to FLOORS')


def test_the_cycle_finder_finds_a_cycle():
  assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c',
                                                              'a']
  assert find_cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) is None


def test_no_import_cycle_in_the_project():
  graph = import_graph()
  assert 'pipeline.cli' in graph and 'pipeline.metadata.store' in graph
  assert find_cycle(graph) is None, ' -> '.join(find_cycle(graph))


def test_paths_imports_nothing_of_the_project():
  assert import_graph()['pipeline.paths'] == set()


def test_pipeline_modules_import_only_lower_floors():
  graph = import_graph()
  for module, imported in graph.items():
    if not module.startswith('pipeline.') or module == 'pipeline':
      continue
    for other in imported:
      if not other.startswith('pipeline.'):
        continue
      same_package = other.rsplit('.', 1)[0] == module.rsplit('.', 1)[0]
      assert floor_of(other) < floor_of(module) or (
          same_package and floor_of(other) == floor_of(module)), (
              f'{module} (floor {floor_of(module)}) imports {other} '
              f'(floor {floor_of(other)})')


def test_only_the_cli_has_a_main():
  owners = [name for name, path in project_modules().items()
            if name.startswith('pipeline') and
            any(isinstance(n, ast.FunctionDef) and n.name == 'main'
                for n in ast.parse(path.read_text(encoding='utf-8')).body)]
  assert owners == ['pipeline.cli'], owners
