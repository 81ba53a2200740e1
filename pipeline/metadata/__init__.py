"""The read-only readers of ML Metadata and the artifacts it points to.

`store` opens the store read-only and walks its events; the other modules
ask it: `evaluation` (metrics, thresholds, curves), `statistics` (TFDV
statistics), `drift` (TFDV distances between two statistics), `lineage`
(where a pushed model came from), `runs` (past runs, two runs compared) and
`summary` (the newest run, for the run summary). Nothing here renders text.
"""
