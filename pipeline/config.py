"""Every setting of the pipeline in one typed, frozen config (no paths here).

Paths belong to the runner; thresholds, budgets and names live here so they
are not scattered as literals. Override from the CLI.
"""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Settings of one pipeline run."""
  pipeline_name: str = 'consumer_complaints'
  model_name: str = 'complaints'
  rows: int = 50_000                 # size of the generated data set
  seed: int = 42
  train_steps: int = 1000
  eval_steps: int = 50
  tune: bool = True
  tuner_trials: int = 3
  # Trials train as long as the Trainer will, so the Tuner ranks settings by
  # the score they reach at that length (the best learning rate depends on it).
  tuner_steps: int = 1000
  beam_workers: int = os.cpu_count() or 1
  hash_buckets_train: int = 4        # train:eval = 4:1 hash split
  hash_buckets_eval: int = 1
  # Evaluator gates: an AUC a majority-class predictor (AUC 0.5) cannot pass,
  # and no regression beyond this against the last blessed model.
  min_auc: float = 0.65
  max_auc_regression: float = 0.01
  # Hash of the module code; module code wired by dotted path is not
  # fingerprinted by TFX, so this is what invalidates the cache on a change.
  code_fingerprint: str = ''       # all of components/ (Tuner, Trainer)
  transform_fingerprint: str = ''  # the files preprocessing_fn depends on
