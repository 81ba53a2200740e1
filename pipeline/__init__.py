"""The TFX pipeline: its paths, config, wiring, runner, readers and reports.

Floors, each importing only those below it:
  paths, config               where things live; every setting
  input_data, pipeline        versioned input spans; the component wiring
  metadata/                   read-only readers of ML Metadata
  reports/                    text, HTML and the model card
  local_runner, cli           one run; the command line (the only `main`)
"""
import components  # noqa: F401  (sets up the stack before TensorFlow loads)
