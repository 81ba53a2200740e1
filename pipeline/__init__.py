"""The TFX pipeline definition and its command-line runner.

TFX 1.16 needs Keras 2 (tf-keras): set before TensorFlow is first imported.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # C++ info logs drown the summary

import warnings  # pylint: disable=g-import-not-at-top,wrong-import-position

# google-api-core (pulled in by Beam's GCP extra) warns on every start that
# Python 3.10 is old; the stack is pinned to 3.10 by TFX 1.16 on purpose.
warnings.filterwarnings('ignore', category=FutureWarning,
                        module=r'google\.api_core\..*')
