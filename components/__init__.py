"""Module code of the pipeline: feature names, preprocessing, model, tuner.

Also the one place that sets up the stack before TensorFlow is first
imported; every other package (pipeline, serving, the tests, the notebooks,
the benchmarks) imports this package first instead of repeating it:
- TFX 1.16 needs Keras 2 (tf-keras): TF_USE_LEGACY_KERAS=1.
- TensorFlow's C++ info logs drown the summary: TF_CPP_MIN_LOG_LEVEL=2.
- google-api-core (pulled in by Beam's GCP extra) warns on every start that
  Python 3.10 is old; the stack is pinned to 3.10 by TFX 1.16 on purpose.
"""
import os
import warnings

_PYTHON_VERSION_WARNING = 'google.api_core._python_version_support'

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.filterwarnings('ignore', category=FutureWarning,
                        module=_PYTHON_VERSION_WARNING.replace('.', r'\.'))
# google-cloud-aiplatform (TFX's GCP extras) warns on import about the
# google-cloud-storage version TFX 1.16 pins.
warnings.filterwarnings('ignore', category=FutureWarning,
                        message='Support for google-cloud-storage < 3.0.0')
# Beam's worker processes start their own interpreters: tell them too.
if _PYTHON_VERSION_WARNING not in os.environ.get('PYTHONWARNINGS', ''):
  os.environ['PYTHONWARNINGS'] = ','.join(filter(None, [
      os.environ.get('PYTHONWARNINGS'),
      f'ignore::FutureWarning:{_PYTHON_VERSION_WARNING}']))
