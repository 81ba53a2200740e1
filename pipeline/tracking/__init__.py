"""Runs and pushed models copied from ML Metadata into MLflow.

MLflow lives in its own venv (make/mlflow.mk): its protobuf and SQLAlchemy
are not the TFX stacks'. These modules talk to an MLflow tracking server
over its REST API with the standard library only, so they run on both
stacks unchanged: mlflow_rest.py (the HTTP calls), mlflow_record.py (what
one run becomes: parameters, metrics, tags), mlflow_registry.py (pushed
models as registered versions, the server's labels as aliases) and
mlflow_sync.py (`pipeline mlflow-sync`, and `run --mlflow-tracking-uri`).
"""
