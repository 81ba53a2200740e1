"""ModelAnalysis as a TFX component: beside the Evaluator, on the same eval
split and candidate model; writes analysis.json (components/model_analysis.py).

Kept apart from components/model_analysis.py, whose functions need no TFX,
so they are tested directly.
"""

import json

from components import dataset_spec
from components import model_analysis
from components import tfx_api


@tfx_api.component
def ModelAnalysis(  # pylint: disable=invalid-name
    examples: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.Examples],
    model: tfx_api.InputArtifact[
        tfx_api.standard_artifacts.Model],
    analysis: tfx_api.OutputArtifact[
        tfx_api.standard_artifacts.ModelEvaluation],
    dataset: tfx_api.Parameter[str] = '',
    decision_threshold: tfx_api.Parameter[float] = 0.0,
    seed: tfx_api.Parameter[int] = 42,
    code_fingerprint: tfx_api.Parameter[str] = '') -> None:
  """Attributions, permutation importance and fairness of the candidate.

  dataset: the dataset spec's module_config as JSON ('' for the CFPB
  model); decision_threshold: the binary decision threshold, 0 for the
  default (the eval split's positive share flagged); code_fingerprint:
  keys the cache on the module code, which TFX does not fingerprint."""
  del code_fingerprint
  spec = dataset_spec.from_config(json.loads(dataset)) if dataset else None
  model_analysis.run(examples.uri, model.uri, analysis.uri, spec,
                     threshold=decision_threshold or None, seed=seed)
