"""certraft's Jepsen-style failure-testing harness.

Modules, from the bottom up:

  history    thread-safe recording of operations (invoke/complete/outcome)
  checkers   set, register (linearizability, Wing-Gong/Lowe search) and auth
             checkers; pure functions over histories, unit-tested on
             hand-made histories (cluster-tests/test_jepsen_checkers.py)
  netns      the network namespace a run lives in, and nftables partitions
  db         a certraft_cluster.Cluster whose node i listens on 127.0.0.i
             and runs as its own uid (so that nftables can tell nodes apart)
  nemesis    the faults and their seeded schedules
  workloads  set, register and auth clients
  plot       latency/throughput over time with fault windows (gnuplot)
  runner     one run (or --all of them): set up, run, heal, check, report

The entry point is cluster-tests/run (see `cluster-tests/run --help`).
"""
