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

# `components` sets up the stack once, before TensorFlow is first imported
# (TF_USE_LEGACY_KERAS for TFX 1.16's Keras 2, quieter TF and google-api-core
# logs); every serving module imports `serving` first, hence this import.
import components  # noqa: F401
