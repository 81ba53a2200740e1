"""Package definition of the consumer-complaints TFX pipeline.

Exact versions are pinned per stack (stacks/README.md): constraints.txt for
TFX 1.16 on Python 3.10, stacks/constraints-tfx121-py313.txt for TFX 1.21 on
Python 3.13 (install with `pip install -c <constraints> -e .[test]`, which
the Makefile does for the stack it picks); the ranges here only say what the
code runs on: the two stacks and what lies between them.
"""
from setuptools import setup

setup(
    name='consumer-complaints-tfx',
    version='0.1.0',
    description='End-to-end TFX reference pipeline on CFPB consumer complaints',
    python_requires='>=3.10,<3.14',
    packages=['pipeline', 'pipeline.metadata', 'pipeline.monitoring',
              'pipeline.reports', 'pipeline.schema', 'pipeline.tracking',
              'components', 'data', 'serving'],
    package_data={
        'data': ['real/*.csv', 'real/README.md'],
        # The curated schema: without it the pipeline refuses to run.
        'pipeline.schema': ['schema.pbtxt'],
        'pipeline': ['direct_runner_requirements.txt'],
        'serving': ['configs/*.config'],
    },
    install_requires=[
        'tfx>=1.16,<1.22',
        'tensorflow>=2.16,<2.22',
        'tf-keras>=2.16,<2.22',
        'apache-beam[gcp]>=2.59,<2.78',
        'tensorflow-transform>=1.16,<1.22',
        'tensorflow-data-validation>=1.16.1,<1.22',
        'tensorflow-model-analysis>=0.47.1,<0.53',
        'ml-metadata>=1.16,<1.22',
        'tensorflow-serving-api>=2.16.1,<2.20',
        # 1.4 tunes Keras 3 models only; Transform and TFMA need tf-keras.
        'keras-tuner==1.3.5',
        # TensorBoard logs of the Trainer and the Tuner's trials (TF 2.16
        # installs it, TF 2.21 no longer does).
        'tensorboard',
        'grpcio',
        # The model server's event loop: REST on uvloop with httptools'
        # C HTTP parser (serving/rest_async.py).
        'uvloop==0.21.0',
        'httptools==0.6.4',
        'numpy',
        'pandas',
        'psutil',
        # The bulk client's progress bar (serving/client_progress.py).
        'tqdm',
        # The dataset specs (datasets/*.yaml) and their JSON Schema.
        'pyyaml',
        'jsonschema',
        # The penguins spec's data: the package ships the CSV.
        'palmerpenguins',
    ],
    # playwright drives Debian's chromium (never a downloaded browser) in the
    # browser tests of the run report and the run index; hypothesis is the
    # fuzz tier of the server (tests/serving/test_fuzz.py); kubernetes-validate
    # checks deploy/kubernetes/ against the API schemas it ships.
    # kubeflow: `python -m pipeline compile --target kubeflow-v2` (TFX's
    # KubeflowV2DagRunner needs only KFP's PipelineSpec protos; kfp itself
    # conflicts with the pins: 2.0-2.5 want urllib3<2, 2.6+ protobuf>=4).
    extras_require={'test': ['pytest', 'pytest-xdist', 'pytest-randomly',
                             'nbclient', 'ipykernel', 'playwright',
                             'hypothesis', 'kubernetes-validate'],
                    'kubeflow': ['kfp-pipeline-spec']},
)
