"""A local run's Beam arguments keep TFX from packaging itself per component.

TFX's own check (tfx.utils.dependency_utils.make_beam_dependency_flags)
is called as every Beam component's executor calls it: with the local
arguments it must return them unchanged (no `--extra_package` of a freshly
built sdist), and without them it would add one.
"""

import os

from tfx.utils import dependency_utils

from pipeline import paths


def test_local_beam_args_need_no_ephemeral_tfx_package():
  for workers in (1, 2):
    args = paths.local_beam_args(workers)
    assert dependency_utils.make_beam_dependency_flags(list(args)) == args
    assert args[:-1] == paths.beam_args(workers)
  assert os.path.isfile(paths.DIRECT_RUNNER_REQUIREMENTS)
  with open(paths.DIRECT_RUNNER_REQUIREMENTS, encoding='utf-8') as f:
    assert all(line.startswith('#') for line in f if line.strip())
