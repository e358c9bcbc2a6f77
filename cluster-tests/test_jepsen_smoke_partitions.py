#!/usr/bin/env python3
"""Jepsen smoke (CI): set, register and auth workloads together on 3 nodes
for 30 s under each of: partition-halves partition-ring isolate-leader. See cluster-tests/jepsen/smoke.py."""

import sys

from jepsen import smoke

if __name__ == "__main__":
    sys.exit(smoke.main(["partition-halves", "partition-ring", "isolate-leader"], seed=100))
