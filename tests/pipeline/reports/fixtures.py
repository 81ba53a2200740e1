"""Hand-written readings of ML Metadata, as pipeline.metadata returns them.

Renderers are tested on these, with no pipeline run: the values are written
out here, so every expected string in the tests is known in advance.
"""

import copy

OVERALL_METRICS = {'example_count': 3000.0, 'mean_label': 0.2, 'auc': 0.77,
                   'auc_ci95': [0.75, 0.79], 'precision': 0.5, 'recall': 0.25,
                   'binary_accuracy': 0.8, 'calibration': 1.01}
METRICS = {
    'Overall': OVERALL_METRICS,
    'product:Mortgage': {'example_count': 900.0, 'auc': 0.70},
    'product:Prepaid card': {'example_count': 20.0, 'auc': 0.55},
    'state:CA': {'example_count': 400.0, 'auc': 0.72},
}
TRAIL = {
    'push': {'version': '1796116636',
             'destination': '/out/serving/complaints/1796116636',
             'pushed_at': '2026-12-01T09:17:16+00:00', 'run_id': 'run-1'},
    'run_id': 'run-1',
    'data': {'span': 3, 'files': [{'path': '/out/input/span-3/complaints.csv',
                                   'bytes': 1234, 'sha256': 'ab' * 32}],
             'sha256': 'ab' * 32,
             'rows_per_split': {'train': 12000, 'eval': 3000}},
    'hyperparameters': {'values': {'learning_rate': 0.003, 'l1': 0.001,
                                   'hidden_units': 0, 'embedding_dim': 16},
                        'source': 'best trial of the Tuner'},
    'training': {'train_steps': 1000, 'eval_steps': 50},
    'evaluation': {
        'metrics': METRICS,
        'thresholds': [{'metric': 'AUC', 'slice': 'Overall',
                        'rule': 'value >= 0.65'}],
        'baseline': {'pushed_version': '1796000000', 'run_id': 'run-0',
                     'model_id': 4, 'uri': '/out/pipeline_root/Trainer/4'},
        'diff': {'Overall': {'auc': 0.0123}},
        'validation': {'ok': True, 'failures': []}},
    'code': {'git_now': {'commit': 'c0ffee', 'dirty': False},
             'code_fingerprint_recorded': '11460a4c00445b1b'},
}


def trail(**changes):
  """A deep copy of TRAIL with top-level keys replaced."""
  copied = copy.deepcopy(TRAIL)
  copied.update(changes)
  return copied
