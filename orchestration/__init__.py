"""Schedulers that run the project's life cycle by themselves.

`orchestration/airflow/` holds an Airflow DAG (its own venv and constraints,
see its README) that calls the project's CLI in the project's venv. The
modules here are the few steps of that loop the CLI does not have as one
command, run the same way (`python -m orchestration.<step>` in `.venv`):
`labels_drop` (a folder of outcome files as one labels CSV) and `traffic`
(a CSV sent through the model server with request logging, for a demo or a
test where no real traffic exists).
"""
