"""`python -m pipeline compile --target kubeflow-v2`: the spec KFP v2 and
Vertex AI Pipelines run, compiled offline and checked against the local
pipeline's own definition.

KFP's own loader (the `kfp` package) cannot be installed next to the pins
(kfp 2.0-2.5 want urllib3<2, 2.6 and later protobuf>=4), so the spec is
checked with KFP's PipelineSpec protos (`kfp-pipeline-spec`, what the KFP
backend and Vertex parse it with), strictly: an unknown or mistyped field
fails.

One compile runs as a user runs it, a `python -m pipeline compile`
subprocess (the `compiled` fixture, which most tests read), and the
unknown target's refusal too; the other compiles and refusals run the same
command in this process (`compile_in_process`), where a subprocess would
only add TensorFlow's and TFX's start-up.
"""

import importlib
import json
import os
import subprocess
import sys

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import yaml

from pipeline import config as pipeline_config
from pipeline import kubeflow
from pipeline import paths as project_paths
from tests.conftest import REPO, cli_in_process
from tests import stack_marks

ROOT = 'gs://complaints-bucket/pipelines'
IMAGE = 'europe-west4-docker.pkg.dev/proj/repo/complaints:7'
BEAM = ['--runner=DataflowRunner', '--project=proj', '--region=europe-west4',
        '--temp_location=gs://complaints-bucket/tmp']
CORE = {'CsvExampleGen', 'StatisticsGen', 'ImportSchemaGen', 'ExampleValidator',
        'DataGate', 'Transform', 'Tuner', 'Trainer', 'Evaluator', 'Pusher'}
RESOLVER = 'latest_blessed_model_resolver'
MODULE_CODE = {'Transform': ('preprocessing_fn',
                             'components.transform.preprocessing_fn'),
               'Trainer': ('run_fn', 'components.model.run_fn'),
               'Tuner': ('tuner_fn', 'components.tuner.tuner_fn')}


def compile_cli(*args):
  return subprocess.run(
      [sys.executable, '-m', 'pipeline', 'compile', '--target', 'kubeflow-v2',
       *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def compile_in_process(*args):
  """compile_cli's command in this process (cli.main, its exit code and
  output). compile_to sets TF_CPP_MIN_LOG_LEVEL for its process: put back
  here, so the test leaves the worker's environment as it found it."""
  before = os.environ.get('TF_CPP_MIN_LOG_LEVEL')
  try:
    return cli_in_process('compile', '--target', 'kubeflow-v2', *args)
  finally:
    if before is None:
      os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)
    else:
      os.environ['TF_CPP_MIN_LOG_LEVEL'] = before


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  """The PipelineJob JSON as the command writes it (Tuner on, Dataflow)."""
  out = tmp_path_factory.mktemp('kfp') / 'pipeline.json'
  proc = compile_cli('--out', str(out), '--pipeline-root', ROOT,
                     '--image', IMAGE, *(f'--beam-arg={a}' for a in BEAM))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == f'wrote {out}'
  return json.loads(out.read_text())


@pytest.fixture(scope='module')
def local_pipeline(tmp_path_factory):
  """The local run's definition, wired as pipeline.local_runner wires it."""
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_def  # pylint: disable=g-import-not-at-top
  paths = project_paths.run_paths(str(tmp_path_factory.mktemp('local')))
  config = local_runner.with_fingerprints(pipeline_config.PipelineConfig())
  return pipeline_def.create_pipeline(
      config, paths.input_root, paths.pipeline_root, paths.serving_dir,
      paths.metadata.connection_config(), project_paths.CURATED_SCHEMA,
      project_paths.beam_args(1))


def tasks_of(job):
  return job['pipelineSpec']['root']['dag']['tasks']


def spec_name(node_id: str, field: str = 'model') -> str:
  """The task a local node became (a resolver becomes one per channel)."""
  return f'{node_id}-{field}-resolver' if node_id == RESOLVER else node_id


def parameter(task, name):
  return task['inputs']['parameters'][name]


def test_the_spec_parses_as_kfp_pipeline_job_and_spec(compiled):
  job = json_format.ParseDict(compiled, pipeline_spec_pb2.PipelineJob())
  assert job.pipeline_spec['schemaVersion'] == '2.1.0'
  spec = json_format.ParseDict(compiled['pipelineSpec'],
                               pipeline_spec_pb2.PipelineSpec())
  assert spec.pipeline_info.name == 'consumer-complaints'
  import tfx  # pylint: disable=g-import-not-at-top
  assert spec.sdk_version == f'tfx-{tfx.__version__}'
  assert spec.default_pipeline_root == ROOT
  for name, task in spec.root.dag.tasks.items():
    assert task.component_ref.name in spec.components, name
    executor = spec.components[task.component_ref.name].executor_label
    assert executor in spec.deployment_spec.fields['executors'].struct_value \
        .fields, name


def test_every_component_of_the_local_pipeline_is_a_task(compiled,
                                                         local_pipeline):
  expected = set()
  for node in local_pipeline.components:
    if node.id == RESOLVER:
      expected |= {spec_name(node.id, 'model'),
                   spec_name(node.id, 'model-blessing')}
    else:
      expected.add(node.id)
  assert CORE <= expected
  assert set(tasks_of(compiled)) == expected


def test_the_dependency_order_is_the_local_pipelines(compiled, local_pipeline):
  tasks = tasks_of(compiled)
  for node in local_pipeline.components:
    if node.id == RESOLVER:
      # A resolver is an artifact query the backend runs before anything:
      # its local ordering after the Trainer has no equivalent there.
      for field in ('model', 'model-blessing'):
        assert not tasks[spec_name(node.id, field)].get('dependentTasks')
      continue
    expected = {spec_name(u.id) for u in node.upstream_nodes}
    assert set(tasks[node.id].get('dependentTasks', [])) == expected, node.id
  # Every input artifact comes from the producer the local pipeline wires.
  for node in local_pipeline.components:
    if node.id == RESOLVER:
      continue
    artifacts = tasks[node.id].get('inputs', {}).get('artifacts', {})
    assert set(artifacts) == set(node.inputs), node.id
    for key, channel in node.inputs.items():
      assert artifacts[key]['taskOutputArtifact'] == {
          'producerTask': spec_name(channel.producer_component_id),
          'outputArtifactKey': channel.output_key}, (node.id, key)
  # The local chain, in order: each waits on the one before.
  order = ['CsvExampleGen', 'StatisticsGen', 'ExampleValidator', 'DataGate',
           'Transform', 'Tuner', 'Trainer', 'Evaluator', 'Pusher']
  for before, after in zip(order, order[1:]):
    assert before in ancestors(tasks, after), (before, after)


def ancestors(tasks, name):
  seen, stack = set(), list(tasks[name].get('dependentTasks', []))
  while stack:
    task = stack.pop()
    if task not in seen:
      seen.add(task)
      stack.extend(tasks[task].get('dependentTasks', []))
  return seen


def test_module_code_is_wired_by_dotted_path_and_importable(compiled):
  tasks = tasks_of(compiled)
  for node, (name, path) in MODULE_CODE.items():
    assert parameter(tasks[node], name) == {
        'runtimeValue': {'constant': path}}
    assert 'module_file' not in tasks[node]['inputs']['parameters']
  executors = compiled['pipelineSpec']['deploymentSpec']['executors']
  containers = {name: e['container'] for name, e in executors.items()
                if 'container' in e}
  assert len(containers) == len(tasks) - 2  # all but the resolver queries
  for name, container in containers.items():
    assert container['image'] == IMAGE, name
    args = container['args']
    class_path = args[args.index('--executor_class_path') + 1]
    module, _, attribute = class_path.rpartition('.')
    # What the image will import: the project's own executors included.
    assert hasattr(importlib.import_module(module), attribute), class_path
  assert containers['DataGate_executor']['args'][1] == (
      'components.data_gate.DataGate_Executor')
  for path in ('components.transform.preprocessing_fn',
               'components.model.run_fn', 'components.tuner.tuner_fn'):
    module, _, attribute = path.rpartition('.')
    assert callable(getattr(importlib.import_module(module), attribute))


def test_runtime_parameters_are_where_they_belong(compiled):
  spec = compiled['pipelineSpec']
  data_root = ROOT + '/input'
  assert spec['root']['inputDefinitions']['parameters'] == {
      kubeflow.DATA_ROOT_PARAMETER: {'parameterType': 'STRING',
                                     'defaultValue': data_root}}
  assert compiled['runtimeConfig'] == {
      'gcsOutputDirectory': ROOT,
      'parameterValues': {kubeflow.DATA_ROOT_PARAMETER: data_root}}
  users = {(name, key) for name, task in tasks_of(compiled).items()
           for key, value in task.get('inputs', {}).get('parameters',
                                                         {}).items()
           if 'componentInputParameter' in value}
  assert users == {('CsvExampleGen', 'input_base')}
  assert parameter(tasks_of(compiled)['CsvExampleGen'], 'input_base') == {
      'componentInputParameter': kubeflow.DATA_ROOT_PARAMETER}


def test_locations_settings_and_beam_args_are_compiled_in(compiled):
  tasks = tasks_of(compiled)
  text = json.dumps(compiled)
  assert str(REPO) not in text  # nothing of this checkout's paths
  assert '/compile-time-pipeline-root' not in text
  assert 'sqlite' not in text.lower()  # KFP/Vertex keep their own metadata
  assert parameter(tasks['ImportSchemaGen'], 'schema_file') == {
      'runtimeValue': {'constant': kubeflow.IMAGE_SCHEMA}}
  destination = json.loads(parameter(tasks['Pusher'], 'push_destination')[
      'runtimeValue']['constant'])
  assert destination == {'filesystem': {
      'base_directory': ROOT + '/serving/complaints'}}
  trainer_config = json.loads(parameter(tasks['Trainer'], 'custom_config')[
      'runtimeValue']['constant'])
  assert trainer_config['code_fingerprint'] == project_paths.code_fingerprint()
  transform_config = json.loads(parameter(
      tasks['Transform'], 'custom_config')['runtimeValue']['constant'])
  assert transform_config['code_fingerprint'] == (
      project_paths.code_fingerprint(project_paths.TRANSFORM_CODE))
  # Compiled without data: the train steps chosen by size are the generated
  # rows' (config.rows), as pipeline.create_pipeline documents.
  defaults = pipeline_config.PipelineConfig()
  sized = defaults.sized_for(defaults.rows)
  assert sized.train_steps == defaults.min_train_steps   # 50,000 rows
  assert json.loads(parameter(tasks['Trainer'], 'train_args')['runtimeValue'][
      'constant']) == {'num_steps': sized.train_steps}
  for name, executor in compiled['pipelineSpec']['deploymentSpec'][
      'executors'].items():
    if 'container' in executor:
      assert executor['container']['args'][-len(BEAM):] == BEAM, name
  for name, task in tasks.items():  # the resolver queries have no cache
    if not name.startswith(RESOLVER):
      assert task['cachingOptions'] == {'enableCache': True}, name


def test_the_baseline_resolver_is_the_blessed_model_query(compiled):
  executors = compiled['pipelineSpec']['deploymentSpec']['executors']
  blessing = executors[f'{RESOLVER}-model-blessing-resolver_executor']
  assert 'metadata.blessed.number_value=1' in blessing['resolver'][
      'outputArtifactQueries']['model_blessing']['filter']
  model = executors[f'{RESOLVER}-model-resolver_executor']
  assert 'current_model_id' in model['resolver']['outputArtifactQueries'][
      'model']['filter']
  evaluator = tasks_of(compiled)['Evaluator']['inputs']['artifacts']
  assert evaluator['baseline_model']['taskOutputArtifact'][
      'producerTask'] == f'{RESOLVER}-model-resolver'


def test_yaml_is_the_bare_pipeline_spec_and_no_tune_drops_the_tuner(tmp_path):
  out = tmp_path / 'pipeline.yaml'
  proc = compile_in_process('--out', str(out), '--no-tune', '--train-steps',
                            '300')
  assert proc.returncode == 0, proc.stderr[-3000:]
  spec_dict = yaml.safe_load(out.read_text())
  spec = json_format.ParseDict(spec_dict, pipeline_spec_pb2.PipelineSpec())
  assert spec.default_pipeline_root == kubeflow.DEFAULT_PIPELINE_ROOT
  tasks = spec_dict['root']['dag']['tasks']
  assert 'Tuner' not in tasks and 'hyperparameters' not in tasks[
      'Trainer']['inputs']['artifacts']
  assert json.loads(tasks['Trainer']['inputs']['parameters']['train_args'][
      'runtimeValue']['constant']) == {'num_steps': 300}
  # Without --beam-arg: the local run's DirectRunner arguments.
  executors = spec_dict['deploymentSpec']['executors']
  assert '--direct_running_mode' in ' '.join(
      executors['Transform_executor']['container']['args'])


def test_a_dataset_spec_compiles_with_its_module_code_and_schema(tmp_path):
  out = tmp_path / 'pipeline.json'
  proc = compile_in_process('--out', str(out), '--no-tune', '--dataset',
                            'penguins', '--pipeline-root', ROOT,
                            '--image', IMAGE)
  assert proc.returncode == 0, proc.stderr[-3000:]
  compiled = json.loads(out.read_text())
  assert str(REPO) not in json.dumps(compiled)
  tasks = tasks_of(compiled)
  assert parameter(tasks['Transform'], 'preprocessing_fn') == {
      'runtimeValue': {'constant':
                       'components.transform_by_kind.preprocessing_fn'}}
  assert parameter(tasks['Trainer'], 'run_fn') == {
      'runtimeValue': {'constant': 'components.trainer_by_kind.run_fn'}}
  assert parameter(tasks['ImportSchemaGen'], 'schema_file') == {
      'runtimeValue': {'constant': kubeflow.IMAGE_PROJECT_DIR +
                       '/datasets/penguins.schema.pbtxt'}}
  config = json.loads(parameter(tasks['Trainer'], 'custom_config')[
      'runtimeValue']['constant'])
  assert config['dataset']['label']['classes'] == [
      'Adelie', 'Chinstrap', 'Gentoo']
  assert compiled['pipelineSpec']['pipelineInfo']['name'] == 'penguins'


@pytest.mark.parametrize('args, message', [
    (['--out', '/no/such/folder/p.json'], 'no such directory /no/such/folder'),
    (['--out', 'pipeline.txt'], '--out must end with .json, .yaml, .yml'),
    (['--out', 'p.json', '--rows', '0'], '--rows must be at least 1'),
    (['--out', 'p.json', '--pipeline-name', 'Complaints_V2', '--image', ''],
     '--image must name a container image'),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  args = [str(tmp_path / a) if a == 'p.json' else a for a in args]
  proc = compile_in_process(*args)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
  assert message in proc.stderr
  assert not list(tmp_path.iterdir())


def test_unknown_target_is_refused():
  proc = compile_cli('--out', 'x.json', '--target', 'airflow')
  assert proc.returncode == 2 and 'invalid choice' in proc.stderr


def test_kfp_names():
  assert kubeflow.kfp_name('consumer_complaints') == 'consumer-complaints'
  assert kubeflow.kfp_name('Complaints_V2') == 'complaints-v2'
  with pytest.raises(kubeflow.CompileError):
    kubeflow.kfp_name('-complaints')


@stack_marks.cannot_on('tfx121', 'the component image (Dockerfile) is the '
                       'tfx116 stack: FROM tensorflow/tfx:1.16.0 with '
                       'constraints.txt (Python 3.10)')
def test_the_dockerfile_builds_what_the_spec_expects():
  text = (REPO / 'Dockerfile').read_text()
  import tfx  # pylint: disable=g-import-not-at-top
  assert f'FROM tensorflow/tfx:{tfx.__version__}\n' in text
  assert f'WORKDIR {kubeflow.IMAGE_PROJECT_DIR}\n' in text
  assert "-c constraints.txt -e '.[kubeflow]'" in text
  for folder in ('components/', 'pipeline/'):
    assert f'COPY {folder} {folder}' in text
  assert kubeflow.IMAGE_SCHEMA == (kubeflow.IMAGE_PROJECT_DIR +
                                   '/pipeline/schema/schema.pbtxt')
  ignored = (REPO / '.dockerignore').read_text().split()
  assert not {'components', 'pipeline', 'setup.py',
              'constraints.txt'} & set(ignored)
