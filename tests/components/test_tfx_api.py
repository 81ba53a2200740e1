"""components.tfx_api: TFX's public API without importing `tfx.v1`."""

import subprocess
import sys
import types

from components import tfx_api

# tfx_api's name -> where TFX's public API (tfx.v1) exports it.
PUBLIC = {
    'CsvExampleGen': 'components.CsvExampleGen',
    'StatisticsGen': 'components.StatisticsGen',
    'ImportSchemaGen': 'components.ImportSchemaGen',
    'ExampleValidator': 'components.ExampleValidator',
    'Transform': 'components.Transform',
    'Tuner': 'components.Tuner',
    'TunerFnResult': 'components.TunerFnResult',
    'Trainer': 'components.Trainer',
    'Evaluator': 'components.Evaluator',
    'Pusher': 'components.Pusher',
    'component': 'dsl.components.component',
    'InputArtifact': 'dsl.components.InputArtifact',
    'OutputArtifact': 'dsl.components.OutputArtifact',
    'Parameter': 'dsl.components.Parameter',
    'Resolver': 'dsl.Resolver',
    'Channel': 'dsl.Channel',
    'Pipeline': 'dsl.Pipeline',
    'LocalDagRunner': 'orchestration.LocalDagRunner',
    'Input': 'proto.Input',
    'Output': 'proto.Output',
    'SplitConfig': 'proto.SplitConfig',
    'TrainArgs': 'proto.TrainArgs',
    'EvalArgs': 'proto.EvalArgs',
    'PushDestination': 'proto.PushDestination',
    'standard_artifacts': 'types.standard_artifacts',
}


def test_every_name_is_tfx_public_apis_own_object():
  from tfx import v1  # pylint: disable=g-import-not-at-top
  exported = {name for name in vars(tfx_api) if not name.startswith('_')}
  assert exported == set(PUBLIC)
  for name, public in PUBLIC.items():
    found = v1
    for part in public.split('.'):
      found = getattr(found, part)
    ours = getattr(tfx_api, name)
    if isinstance(found, types.ModuleType):  # tfx.v1 re-exports a module's
      for member in (m for m in vars(found) if not m.startswith('_')):
        assert getattr(ours, member) is getattr(found, member), (name, member)
    else:
      assert ours is found, name


def test_the_pipeline_definition_imports_no_tfx_v1():
  """The point of the module: tfx.v1 (and its Vertex AI extension) stays
  out of the processes that build and run the pipeline."""
  probe = ('import sys\n'
           'import components.tuner, components.model, pipeline.pipeline\n'
           'import pipeline.local_runner\n'
           'print(sorted(m for m in sys.modules if m.startswith("tfx.v1") '
           'or m.startswith("google.cloud.aiplatform")))\n')
  out = subprocess.run([sys.executable, '-c', probe], capture_output=True,
                       text=True, check=True).stdout
  assert out.strip() == '[]'
