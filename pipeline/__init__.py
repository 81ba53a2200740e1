"""The TFX pipeline: its paths, config, wiring, runner, readers and reports.

Floors, each importing only those below it:
  paths, config               where things live; every setting
  input_data, pipeline        versioned input spans; the component wiring
  metadata/                   read-only readers of ML Metadata
  monitoring/                 served traffic against training; feedback
  reports/, progress          text, HTML, the model card; the quiet run
  local_runner, kubeflow      one local run; the pipeline compiled for KFP
  cli                         the command line (the only `main`)
"""
import components  # noqa: F401  (sets up the stack before TensorFlow loads)
