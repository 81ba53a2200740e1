"""A model server that speaks TensorFlow Serving's REST and gRPC APIs.

The `tensorflow_model_server` binary is not installable where this project
runs, so `serving` reimplements the parts of it the project needs, with the
same flags, URLs, protos, JSON formats, error messages and status codes. Any
client written for TF Serving works against it unchanged, and the real TF
Serving can replace it without touching the model directory or config files
(see serving/README.md).

Entry points: `python -m serving.model_server` (the server) and
`python -m serving.client` (a client for the complaint model).
"""

import os

# TFX 1.16 needs Keras 2 (tf_keras); must be set before TensorFlow is imported.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
