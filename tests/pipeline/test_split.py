"""The train/eval split is a hash of the Complaint ID alone, on both stacks.

TFX's default key is the whole tf.Example serialized deterministically, and
protobuf 6 (upb, the tfx121 stack) orders the feature map differently from
protobuf 3.20 (C++, tfx116): a key comes after a longer key it prefixes
(`company_response` before `company`). The same CSV then gave each stack
other eval rows, and the small test models' verdicts differed with them
(stacks/README.md). Through TFX's own partition function, on the pipeline's
own split config: the same buckets on both stacks, whatever else the row
holds.
"""

from google.protobuf import json_format
import pytest
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components import features
from pipeline import config as pipeline_config
from pipeline import paths as project_paths

# The split of Complaint IDs 1-20 (0 train, 1 eval), the same literal on
# every stack: only the ID's own Feature bytes are hashed.
SPLIT_OF_IDS_1_TO_20 = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]


@pytest.fixture(scope='module')
def split_config(tmp_path_factory):
  """CsvExampleGen's SplitConfig, from the local pipeline's definition."""
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_def  # pylint: disable=g-import-not-at-top
  paths = project_paths.run_paths(str(tmp_path_factory.mktemp('split')))
  config = local_runner.with_fingerprints(pipeline_config.PipelineConfig())
  tfx_pipeline = pipeline_def.create_pipeline(
      config, paths.input_root, paths.pipeline_root, paths.serving_dir,
      paths.metadata.connection_config(), project_paths.CURATED_SCHEMA,
      project_paths.beam_args(1))
  [example_gen] = [c for c in tfx_pipeline.components
                   if c.id == 'CsvExampleGen']
  output = example_gen_pb2.Output()
  json_format.Parse(example_gen.exec_properties['output_config'], output)
  return output.split_config


def _example(complaint_id: int, **strings) -> tf.train.Example:
  example = tf.train.Example()
  example.features.feature[features.ID_KEY].int64_list.value.append(
      complaint_id)
  for key, value in strings.items():
    example.features.feature[key].bytes_list.value.append(value.encode())
  return example


def _partition(example, split_config) -> int:
  buckets = []
  for split in split_config.splits:
    buckets.append(split.hash_buckets + (buckets[-1] if buckets else 0))
  return base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
      example, len(buckets), buckets, split_config)


def test_the_split_hashes_the_complaint_id(split_config):
  assert split_config.partition_feature_name == features.ID_KEY
  assert [s.name for s in split_config.splits] == ['train', 'eval']


def test_a_rows_split_does_not_depend_on_its_other_fields(split_config):
  # company is a prefix of company_response: the pair whose order differs.
  for complaint_id in range(1, 200):
    plain = _example(complaint_id)
    full = _example(complaint_id, company='BANK',
                    company_response='Closed with explanation',
                    narrative='a late fee')
    assert _partition(plain, split_config) == _partition(full, split_config)


def test_the_same_ids_are_in_eval_on_every_stack(split_config):
  split = [_partition(_example(i), split_config) for i in range(1, 21)]
  assert split == SPLIT_OF_IDS_1_TO_20
