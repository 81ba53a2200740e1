"""Package definition of the consumer-complaints TFX pipeline.

Exact versions of the whole stack are pinned in constraints.txt (install with
`pip install -c constraints.txt -e .[test]`, which the Makefile does); the
ranges here only say what the code needs.
"""
from setuptools import setup

setup(
    name='consumer-complaints-tfx',
    version='0.1.0',
    description='End-to-end TFX reference pipeline on CFPB consumer complaints',
    python_requires='>=3.10,<3.11',
    packages=['pipeline', 'pipeline.metadata', 'pipeline.monitoring',
              'pipeline.reports', 'pipeline.schema', 'components', 'data',
              'serving'],
    package_data={
        'data': ['real/*.csv', 'real/README.md'],
        # The curated schema: without it the pipeline refuses to run.
        'pipeline.schema': ['schema.pbtxt'],
        'serving': ['configs/*.config'],
    },
    install_requires=[
        'tfx==1.16.0',
        'tensorflow==2.16.2',
        'tf-keras==2.16.0',
        'apache-beam[gcp]==2.59.0',
        'tensorflow-transform==1.16.0',
        'tensorflow-data-validation==1.16.1',
        'tensorflow-model-analysis==0.47.1',
        'ml-metadata==1.16.0',
        'tensorflow-serving-api==2.16.1',
        'keras-tuner==1.3.5',
        'grpcio',
        'numpy',
        'pandas',
        'psutil',
    ],
    # playwright drives Debian's chromium (never a downloaded browser) in the
    # browser tests of the run report and the run index; hypothesis is the
    # fuzz tier of the server (tests/serving/test_fuzz.py); kubernetes-validate
    # checks deploy/kubernetes/ against the API schemas it ships.
    # kubeflow: `python -m pipeline compile --target kubeflow-v2` (TFX's
    # KubeflowV2DagRunner needs only KFP's PipelineSpec protos; kfp itself
    # conflicts with the pins: 2.0-2.5 want urllib3<2, 2.6+ protobuf>=4).
    extras_require={'test': ['pytest', 'nbclient', 'ipykernel', 'playwright',
                             'hypothesis', 'kubernetes-validate'],
                    'kubeflow': ['kfp-pipeline-spec']},
)
