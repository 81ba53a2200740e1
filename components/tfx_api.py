"""The TFX API this project uses, imported from the modules that define it.

`from tfx import v1 as tfx` would give the same classes, but `tfx.v1` also
imports its extensions (Vertex AI, BigQuery): about 2 s of Google Cloud
client libraries on every process start, which the cached rerun of a local
run is mostly made of (`python -X importtime`; benchmarks/README.md). These
are the modules `tfx.v1`'s own __init__ files re-export, so the names mean
exactly what TFX's public API means (checked on TFX 1.16 and 1.21:
tests/components/test_tfx_api.py).
"""

# pylint: disable=unused-import,g-importing-member
from tfx.components.evaluator.component import Evaluator
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.pusher.component import Pusher
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.transform.component import Transform
from tfx.components.tuner.component import Tuner
from tfx.components.tuner.component import TunerFnResult
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.example_gen_pb2 import Input
from tfx.proto.example_gen_pb2 import Output
from tfx.proto.example_gen_pb2 import SplitConfig
from tfx.proto.pusher_pb2 import PushDestination
from tfx.proto.trainer_pb2 import EvalArgs
from tfx.proto.trainer_pb2 import TrainArgs
from tfx.types import standard_artifacts
from tfx.types.channel import Channel
