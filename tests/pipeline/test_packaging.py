"""A non-editable install carries everything a run needs (the schema too)."""

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_ships_the_curated_schema_and_every_subpackage(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
       '--no-build-isolation', '-q', '-w', str(tmp_path), str(REPO)],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  wheel, = tmp_path.glob('*.whl')
  names = set(zipfile.ZipFile(wheel).namelist())
  expected = {'pipeline/schema/schema.pbtxt', 'pipeline/metadata/store.py',
              'pipeline/reports/charts.py', 'pipeline/cli.py',
              'pipeline/tracking/mlflow_sync.py', 'pipeline/data_versions.py',
              'components/features.py', 'serving/model_server.py'}
  assert expected <= names, sorted(expected - names)
  shipped = zipfile.ZipFile(wheel).read('pipeline/schema/schema.pbtxt')
  assert shipped == (REPO / 'pipeline' / 'schema' / 'schema.pbtxt').read_bytes()
