"""The pipeline compiled for Kubeflow Pipelines v2 and Vertex AI Pipelines.

`python -m pipeline compile --target kubeflow-v2 --out FILE` calls `compile_to`:
the same `create_pipeline` as a local run, compiled by TFX's
`KubeflowV2DagRunner` into the PipelineSpec that KFP 2 and Vertex AI
Pipelines run. Offline: nothing is read from or written to the pipeline
root, the image or any cloud service at compile time.

What differs from the local run, and why:
- Every component runs in a container of `--image` (the Dockerfile at the
  repository's root: the `tensorflow/tfx` image with the project installed
  under IMAGE_PROJECT_DIR), so module code wired by dotted path
  (`components.transform.preprocessing_fn`, ...) is importable there, and the
  curated schema is read from the image (IMAGE_SCHEMA), not from this
  checkout.
- The input spans are a runtime parameter, DATA_ROOT_PARAMETER (default
  `<pipeline root>/input`): each run of the compiled spec may point at other
  data without recompiling. The pipeline root is the run's own setting
  (KFP's `pipeline_root`, Vertex's `PipelineJob(pipeline_root=...)`); the
  compiled default is `--pipeline-root`.
- KFP and Vertex bring their own ML Metadata; the local SQLite/MySQL
  connection is not part of the spec.
- A resolver in a PipelineSpec is an artifact query that the KFP or Vertex
  backend runs, not Python: it knows TFX's LatestBlessedModelStrategy and
  LatestArtifactStrategy only. The local pipeline's strategy
  (components.baseline: the latest blessed model *other than* the
  candidate, so that a cached rerun does not evaluate the candidate against
  itself) is compiled as TFX's LatestBlessedModelStrategy, which it extends.
  On a first run both give the same baseline (the candidate is not blessed
  yet when the query runs); on a rerun whose Trainer is cached the query
  returns the candidate itself, so the Evaluator and judge run again and
  compare the model with itself (AUC change 0).
- The pipeline name becomes a KFP name: lower case, "_" as "-".
"""

import dataclasses
import json
import os
import re
import tempfile
from typing import Any, Dict, List, Optional

from pipeline import paths as project_paths
from pipeline.config import PipelineConfig

TARGET = 'kubeflow-v2'
# Where the Dockerfile copies and installs the project inside the image.
IMAGE_PROJECT_DIR = '/opt/complaints'
IMAGE_SCHEMA = IMAGE_PROJECT_DIR + '/pipeline/schema/schema.pbtxt'
DEFAULT_IMAGE = 'consumer-complaints-tfx:latest'
# A placeholder that fails loudly: pass a real bucket (or set pipeline_root
# when submitting the run).
DEFAULT_PIPELINE_ROOT = 'gs://YOUR_BUCKET/consumer-complaints'
DATA_ROOT_PARAMETER = 'data_root'
# TFX's compiler is handed this instead of the pipeline root, so that no
# cloud file system is touched at compile time; the real root is set in the
# spec afterwards (it appears nowhere else in it).
_COMPILE_TIME_ROOT = '/compile-time-pipeline-root'
FORMATS = ('.json', '.yaml', '.yml')
_KFP_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')


class CompileError(ValueError):
  """Options the compiler cannot use: exit 2, nothing written."""


def kfp_name(name: str) -> str:
  """A pipeline name as KFP v2 accepts it ([a-z0-9][a-z0-9-]{0,127})."""
  converted = name.lower().replace('_', '-')
  if not _KFP_NAME.fullmatch(converted):
    raise CompileError(f'the pipeline name {name!r} gives {converted!r}, '
                       'which KFP does not accept ([a-z0-9][a-z0-9-]*)')
  return converted


def check_out(out: str) -> None:
  """Refuses an --out that has no known format or cannot be written."""
  if not out.endswith(FORMATS):
    raise CompileError(f'--out must end with {", ".join(FORMATS)} '
                       f'(JSON: the PipelineJob, YAML: the PipelineSpec), '
                       f'not {out!r}')
  folder = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(folder):
    raise CompileError(f'cannot write {out}: no such directory {folder}')
  if os.path.isdir(out):
    raise CompileError(f'cannot write {out}: it is a directory')
  if not os.access(folder, os.W_OK):
    raise CompileError(f'cannot write {out}: {folder} is not writable')


@dataclasses.dataclass(frozen=True)
class Target:
  """Where the compiled pipeline runs and reads and writes."""
  pipeline_root: str = DEFAULT_PIPELINE_ROOT
  image: str = DEFAULT_IMAGE
  data_root: Optional[str] = None     # default: <pipeline_root>/input
  serving_dir: Optional[str] = None   # default: <pipeline_root>/serving
  beam_args: Optional[List[str]] = None  # default: the local DirectRunner's

  def resolved_data_root(self) -> str:
    return self.data_root or self.pipeline_root.rstrip('/') + '/input'

  def resolved_serving_dir(self) -> str:
    return self.serving_dir or self.pipeline_root.rstrip('/') + '/serving'


def tfx_pipeline(config: PipelineConfig, target: Target):
  """create_pipeline's definition, as the KFP v2 compiler takes it."""
  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2
  from tfx import v1 as tfx
  from tfx.dsl.components.common import resolver
  from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy
  from pipeline import local_runner
  from pipeline import pipeline as pipeline_def
  # pylint: enable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  try:
    spec = dataset_spec.load(config.dataset)
  except dataset_spec.SpecError as error:
    raise CompileError(str(error)) from None
  config = local_runner.with_fingerprints(config).for_spec(spec)
  config = dataclasses.replace(config,
                               pipeline_name=kfp_name(config.pipeline_name))
  # The schema as the image holds it: the same path under the project.
  schema = IMAGE_PROJECT_DIR + '/' + os.path.relpath(
      spec.schema_path, dataset_spec.REPO_ROOT).replace(os.sep, '/')
  data_root = tfx.dsl.experimental.RuntimeParameter(
      name=DATA_ROOT_PARAMETER, ptype=str,
      default=target.resolved_data_root())
  beam_args = (list(target.beam_args) if target.beam_args
               else project_paths.beam_args(config.beam_workers
                                            or os.cpu_count() or 1))
  definition = pipeline_def.create_pipeline(
      config, data_root, _COMPILE_TIME_ROOT, target.resolved_serving_dir(),
      metadata_store_pb2.ConnectionConfig(), schema, beam_args,
      spec=None if dataset_spec.is_default(spec) else spec)
  for node in definition.components:
    if isinstance(node, tfx.dsl.Resolver):
      strategy = node.exec_properties.get(resolver.RESOLVER_STRATEGY_CLASS)
      if strategy and issubclass(
          strategy, latest_blessed_model_strategy.LatestBlessedModelStrategy):
        # See the module docstring: the backend runs TFX's own query.
        node._strategy_class = (  # pylint: disable=protected-access
            latest_blessed_model_strategy.LatestBlessedModelStrategy)
  return definition


def pipeline_job(config: PipelineConfig, target: Target) -> Dict[str, Any]:
  """The PipelineJob (a dict: its `pipelineSpec` and `runtimeConfig`)."""
  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  from tfx import v1 as tfx
  # pylint: enable=g-import-not-at-top
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=target.image, use_pipeline_spec_2_1=True),
      output_dir=tempfile.gettempdir(), output_filename='unused.json')
  job = runner.run(tfx_pipeline(config, target),
                   parameter_values={
                       DATA_ROOT_PARAMETER: target.resolved_data_root()},
                   write_out=False)
  spec = job['pipelineSpec']
  spec['defaultPipelineRoot'] = target.pipeline_root
  job['runtimeConfig']['gcsOutputDirectory'] = target.pipeline_root
  # KFP's client takes the PipelineSpec alone (YAML): the default belongs
  # in it too, not only in the PipelineJob's runtimeConfig.
  spec['root']['inputDefinitions']['parameters'][DATA_ROOT_PARAMETER][
      'defaultValue'] = target.resolved_data_root()
  text = json.dumps(job)
  if _COMPILE_TIME_ROOT in text:
    raise AssertionError('the compile-time pipeline root leaked into the spec')
  # Strict: an unknown or mistyped field is an error, not dropped.
  json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())
  return job


def write(job: Dict[str, Any], out: str) -> None:
  """JSON: the PipelineJob (Vertex); YAML: its PipelineSpec (KFP's client).

  Written to a temporary file and renamed: a failure leaves what was there.
  """
  import yaml  # pylint: disable=g-import-not-at-top
  folder = os.path.dirname(os.path.abspath(out))
  handle, temporary = tempfile.mkstemp(dir=folder, suffix='.tmp')
  try:
    with os.fdopen(handle, 'w', encoding='utf-8') as f:
      if out.endswith('.json'):
        json.dump(job, f, indent=2, sort_keys=True)
        f.write('\n')
      else:
        yaml.safe_dump(job['pipelineSpec'], f, sort_keys=True)
    os.replace(temporary, out)
  except BaseException:
    os.unlink(temporary)
    raise


def compile_to(config: PipelineConfig, target: Target,
               out: str) -> Dict[str, Any]:
  """Compiles the pipeline and writes it to out; returns the PipelineJob."""
  check_out(out)
  # TensorFlow loads only for this, in this process: its CUDA probing
  # errors on a machine without a GPU say nothing about the compile.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  if not target.image:
    raise CompileError('--image must name a container image')
  kfp_name(config.pipeline_name)
  job = pipeline_job(config, target)
  write(job, out)
  return job
