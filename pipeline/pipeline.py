"""Wires the TFX components; nothing else (paths come from the runner).

`create_pipeline` is a pure function of the config and the locations it is
given: the same definition runs locally (`pipeline.local_runner`), in the
notebook, or compiled for another orchestrator.
"""

import json
from typing import List

from ml_metadata.proto import metadata_store_pb2
# TFMA's config protos from their own module: TFMA 0.52 (the tfx121 stack)
# no longer exports them at the top level (tfma_config.Options is gone there).
from tensorflow_model_analysis.proto import config_pb2 as tfma_config

from components import analysis_component
from components import baseline
from components import data_gate
from components import dataset_spec
from components import features
from components import judge as judge_lib
from components import judge_component
from components import model_analysis
from components import tfx_api
from components import window as window_lib
from pipeline.config import PipelineConfig

PLOT_THRESHOLDS = 100  # points on the ROC and precision-recall curves
PLOT_BUCKETS = 10      # bins of the calibration plot


def _multiclass_metrics(classes: int) -> List[tfma_config.MetricsSpec]:
  """A multi-class label's metrics: accuracy and the confusion matrix over
  all classes; AUC, precision and recall per class (one vs rest), and the
  macro average of the per-class AUCs (the judge's metric)."""
  overall = tfma_config.MetricsSpec(metrics=[
      tfma_config.MetricConfig(class_name='ExampleCount'),
      tfma_config.MetricConfig(class_name='SparseCategoricalAccuracy'),
      tfma_config.MetricConfig(class_name='MultiClassConfusionMatrixPlot')])
  per_class = tfma_config.MetricsSpec(
      metrics=[tfma_config.MetricConfig(class_name=name)
               for name in ('AUC', 'Precision', 'Recall')],
      binarize=tfma_config.BinarizationOptions(
          class_ids={'values': list(range(classes))}),
      # TFMA's macro average wants the classes' weights named: equal.
      aggregate=tfma_config.AggregationOptions(
          macro_average=True, class_weights={k: 1.0 for k in range(classes)}))
  return [overall, per_class]


def label_key(spec=None) -> str:
  """The label's feature key: the spec's, else the CFPB model's."""
  return spec.label.key if spec else features.LABEL_KEY


def eval_config(config: PipelineConfig, spec=None) -> tfma_config.EvalConfig:
  """Metrics overall and per slice, against the baseline when there is one.

  No thresholds: the blessing is the judge's (components/judge.py), which
  decides on intervals rather than on TFMA's point estimates. spec: the
  dataset spec (its label, slices and task); None: the CFPB model's.
  """
  del config  # the gates live in the judge's parameters
  slices = list(spec.slices) if spec else features.SLICE_FEATURES
  metrics = [tfma_config.MetricConfig(class_name='ExampleCount'),
             # The disputed share per slice: with the count, the class sizes
             # that the AUC's confidence interval needs.
             tfma_config.MetricConfig(class_name='MeanLabel'),
             tfma_config.MetricConfig(class_name='AUC'),
             tfma_config.MetricConfig(class_name='Precision'),
             tfma_config.MetricConfig(class_name='Recall'),
             tfma_config.MetricConfig(class_name='BinaryAccuracy'),
             tfma_config.MetricConfig(class_name='Calibration'),
             # Curves for the run report (ROC, precision-recall, calibration).
             tfma_config.MetricConfig(class_name='ConfusionMatrixPlot',
                               config='"num_thresholds": %d' % PLOT_THRESHOLDS),
             tfma_config.MetricConfig(class_name='CalibrationPlot',
                               config='"num_buckets": %d' % PLOT_BUCKETS)]
  multiclass = spec is not None and spec.multiclass
  return tfma_config.EvalConfig(
      model_specs=[tfma_config.ModelSpec(
          label_key=label_key(spec), signature_name=features.EXAMPLES_SIGNATURE)],
      slicing_specs=[tfma_config.SlicingSpec()] + [
          tfma_config.SlicingSpec(feature_keys=[key]) for key in slices],
      metrics_specs=(_multiclass_metrics(len(spec.label.classes))
                     if multiclass else
                     [tfma_config.MetricsSpec(metrics=metrics)]),
      # The model's compiled Keras metrics would duplicate these and make
      # TFMA reload the model as Keras inside every metrics combiner.
      options=tfma_config.Options(include_default_metrics={'value': False}))


def training_window(example_gen, gate, window: int):
  """The Examples Transform and the Trainer learn from, and the node that
  resolves them (None for a window of 1: this run's span alone).

  The latest `window` spans ExampleGen has ingested into the store, from any
  run, this run's included (components/window.py): a channel of ExampleGen's
  output would hold only this run's, so the resolver queries by producer and
  output key, which ML Metadata answers across runs. Transform analyses and
  transforms every span in it, the Trainer reads each one's train split.
  Fewer spans than the window (a first run) train on those there are.
  """
  if window == 1:
    return example_gen.outputs['examples'], None
  node = tfx_api.Resolver(
      strategy_class=window_lib.RollingWindowStrategy,
      config={'num_spans': window},
      examples=tfx_api.Channel(
          type=tfx_api.standard_artifacts.Examples,
          producer_component_id=example_gen.id, output_key='examples'),
  ).with_id(window_lib.NODE_ID)
  node.add_upstream_node(gate)  # this run's span has passed the gate
  return node.outputs['examples'], node


def create_pipeline(config: PipelineConfig, data_root: str,
                    pipeline_root: str, serving_dir: str,
                    metadata_connection_config: (
                        metadata_store_pb2.ConnectionConfig),
                    schema_path: str,
                    beam_pipeline_args: List[str],
                    spec=None) -> tfx_api.Pipeline:
  """The TFX components plus the data gate, the baseline resolver and the judge.

  Args:
    config: the run's settings.
    data_root: the folder of input spans (span-N/*.csv).
    pipeline_root: where TFX writes artifacts.
    serving_dir: the Pusher's destination (<serving_dir>/<model name>).
    metadata_connection_config: where TFX records the run (SQLite or
      MySQL), from the runner: `paths.RunPaths.metadata.connection_config()`.
    schema_path: the curated schema the data is validated against. It is
      imported, never inferred: a schema inferred from the data would learn
      bad data instead of rejecting it.
    beam_pipeline_args: e.g. pipeline.paths.beam_args(workers).
    spec: the dataset spec (components/dataset_spec.py) of any data set
      but the CFPB default, whose module code (components/transform.py,
      components/model.py) is written for it; its module code is the
      by-kind one (transform_by_kind, trainer_by_kind), given the spec in
      custom_config, which TFX fingerprints.
  """
  # Lengths chosen by size (train_steps 0) are chosen by the runner from the
  # rows it prepared; without it, from the generated rows' setting.
  config = config.sized_for(config.rows)
  example_gen = tfx_api.CsvExampleGen(
      input_base=data_root,
      input_config=tfx_api.Input(splits=[
          tfx_api.Input.Split(name='all', pattern='span-{SPAN}/*.csv')]),
      output_config=tfx_api.Output(split_config=tfx_api.SplitConfig(
          splits=[tfx_api.SplitConfig.Split(
                      name='train', hash_buckets=config.hash_buckets_train),
                  tfx_api.SplitConfig.Split(
                      name='eval', hash_buckets=config.hash_buckets_eval)],
          # A row's split is a hash of its Complaint ID alone, not of the
          # whole serialized tf.Example: that serialization orders the
          # feature map differently on protobuf 6 (upb puts a key after a
          # longer key it prefixes: company_response before company), which
          # gave the same data other train/eval rows on the tfx121 stack;
          # and a row whose other fields are corrected keeps its split.
          partition_feature_name=(spec.join_key if spec
                                  else features.ID_KEY))))
  statistics_gen = tfx_api.StatisticsGen(
      examples=example_gen.outputs['examples'])
  schema_gen = tfx_api.ImportSchemaGen(schema_file=schema_path)
  example_validator = tfx_api.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'])
  gate = data_gate.DataGate(anomalies=example_validator.outputs['anomalies'])
  window_examples, window_node = training_window(example_gen, gate,
                                                   config.window)
  transform = tfx_api.Transform(
      examples=window_examples,
      schema=schema_gen.outputs['schema'],
      preprocessing_fn=('components.transform_by_kind.preprocessing_fn'
                        if spec else 'components.transform.preprocessing_fn'),
      # StatisticsGen already profiles the raw data; Transform's own pre- and
      # post-transform statistics would be two more full TFDV passes.
      disable_statistics=True,
      # Not read by preprocessing_fn: keys Transform's cache on its code.
      custom_config=dict(
          {'code_fingerprint': config.transform_fingerprint},
          **({dataset_spec.CUSTOM_CONFIG_KEY: spec.module_config()}
             if spec else {})))
  transform.add_upstream_node(gate)
  custom_config = {'seed': config.seed, 'max_trials': config.tuner_trials,
                   'halving': config.tuner_halving,
                   'train_rows': config.train_rows,
                   'code_fingerprint': config.code_fingerprint,
                   # Read by the Trainer only (components/early_stopping.py).
                   'early_stopping': config.train_steps_by_size}
  if spec:
    custom_config[dataset_spec.CUSTOM_CONFIG_KEY] = spec.module_config()
  components = [example_gen, statistics_gen, schema_gen, example_validator,
                gate] + ([window_node] if window_node else []) + [transform]
  hyperparameters = None
  if config.tune:
    tuner = tfx_api.Tuner(
        tuner_fn='components.tuner.tuner_fn',
        examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'],
        train_args=tfx_api.TrainArgs(num_steps=config.tuner_steps),
        eval_args=tfx_api.EvalArgs(num_steps=config.eval_steps),
        custom_config=custom_config)
    hyperparameters = tuner.outputs['best_hyperparameters']
    components.append(tuner)
  trainer = tfx_api.Trainer(
      run_fn=('components.trainer_by_kind.run_fn' if spec
              else 'components.model.run_fn'),
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      hyperparameters=hyperparameters,
      train_args=tfx_api.TrainArgs(num_steps=config.train_steps),
      eval_args=tfx_api.EvalArgs(num_steps=config.eval_steps),
      custom_config=custom_config)
  model_resolver = tfx_api.Resolver(
      strategy_class=baseline.LatestBlessedOtherModelStrategy,
      model=tfx_api.Channel(type=tfx_api.standard_artifacts.Model),
      model_blessing=tfx_api.Channel(
          type=tfx_api.standard_artifacts.ModelBlessing),
  ).with_id('latest_blessed_model_resolver')
  model_resolver.add_upstream_node(trainer)
  evaluator = tfx_api.Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      eval_config=eval_config(config, spec))
  judge = judge_component.BaselineJudge(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      min_auc=config.min_auc, significance=config.baseline_significance,
      max_auc_regression=config.max_auc_regression,
      label_key=label_key(spec),
      output_key=spec.output_key if spec else features.OUTPUT_KEY,
      classes=(json.dumps(list(spec.label.classes))
               if spec and spec.multiclass else '')
  ).with_id(judge_lib.NODE_ID)
  judge.add_upstream_node(evaluator)  # the report shows both, judge last
  # Beside the Evaluator: attributions, permutation importance, fairness
  # per group (components/model_analysis.py); reported, not gated.
  analysis = analysis_component.ModelAnalysis(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      dataset=json.dumps(spec.module_config()) if spec else '',
      decision_threshold=config.decision_threshold, seed=config.seed,
      code_fingerprint=config.code_fingerprint,
  ).with_id(model_analysis.NODE_ID)
  pusher = tfx_api.Pusher(
      model=trainer.outputs['model'],
      model_blessing=judge.outputs['blessing'],
      push_destination=tfx_api.PushDestination(
          filesystem=tfx_api.PushDestination.Filesystem(
              base_directory=f'{serving_dir}/{config.model_name}')))
  components += [trainer, model_resolver, evaluator, judge, analysis, pusher]
  return tfx_api.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=True,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args)
