"""Beam work on several hosts: SDK worker pools in network namespaces.

The pipeline's Beam components (ExampleGen, StatisticsGen, Transform,
Evaluator, ...) run through Beam's portable runner: a job service on a
"head" host, and one SDK worker pool (`worker_pool_main`, the harness Flink,
Spark and Dataflow run Python in) on each "worker" host. On one machine the
hosts are Linux network namespaces joined by a bridge, so every byte between
the job service and the workers crosses a real (virtual) network.

Modules, bottom first:
  settings.py    the cluster's names, addresses and ports (one frozen dataclass)
  hosts.py       the hosts: namespaces, veth pairs, the bridge, /etc/netns hosts files
  job_server.py  Beam's job service, reachable from other hosts (head)
  dispatcher.py  one worker-pool address that hands each worker to the next pool
  cluster.py     brings the processes up on the hosts and down again; the --beam-arg values
  __main__.py    `python -m deploy.beam up|down|status|args`
  equivalence.py whether a run on the pools computed what a local run did
"""
