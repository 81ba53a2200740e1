"""Rendering: what the readers of pipeline/metadata found, as text and HTML.

`formatting` is the one number formatter and slice picker; `charts` the one
SVG chart library (the notebooks use it too); `html_table` the one HTML
table; `summary_text`, `lineage_text` and `runs_text` the terminal output;
`monitor_text` and `feedback_text` the monitor's and feedback's output;
`run_report`, `run_index` and `monitor_report` the HTML pages; `model_card`
the card written beside a pushed model; `paper_trail` writes a run's
report, card and index after the run.
"""
