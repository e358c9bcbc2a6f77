#!/usr/bin/env python3
"""Jepsen smoke (CI): set, register and auth workloads together on 3 nodes
for 30 s under each of: kill-minority kill-leader kill-all. See cluster-tests/jepsen/smoke.py."""

import sys

from jepsen import smoke

if __name__ == "__main__":
    sys.exit(smoke.main(["kill-minority", "kill-leader", "kill-all"], seed=200))
