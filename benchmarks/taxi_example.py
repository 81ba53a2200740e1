"""Runs TFX's own Chicago-taxi example (shipped in the tfx wheel) into a folder.

The yardstick of `bench_pipeline`: the example's own `_create_pipeline` and
module file, its 15,000 bundled rows and its Beam settings, run by the same
LocalDagRunner as ours; only the paths are redirected to a scratch folder.
`python -m benchmarks.taxi_example OUT_DIR`.
"""

import os
import sys

import components  # noqa: F401  (the stack's settings, before TensorFlow loads)


def main(argv) -> int:
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as taxi  # pylint: disable=g-import-not-at-top
  out = os.path.abspath(argv[1])
  example_dir = os.path.dirname(taxi.__file__)
  pipeline = taxi._create_pipeline(  # pylint: disable=protected-access
      pipeline_name='chicago_taxi_native_keras',
      pipeline_root=os.path.join(out, 'pipeline_root'),
      data_root=os.path.join(example_dir, 'data', 'simple'),
      module_file=os.path.join(example_dir, 'taxi_utils_native_keras.py'),
      serving_model_dir=os.path.join(out, 'serving'),
      metadata_path=os.path.join(out, 'metadata.sqlite'),
      beam_pipeline_args=taxi._beam_pipeline_args)  # pylint: disable=protected-access
  tfx.orchestration.LocalDagRunner().run(pipeline)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
