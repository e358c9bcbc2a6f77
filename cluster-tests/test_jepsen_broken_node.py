#!/usr/bin/env python3
"""The suite catches a broken node: with --unsafe-ack-before-commit a
leader acknowledges writes before a quorum has them. Cut the leader off
(isolate-leader) while set clients write through every node: until it
notices it lost its quorum, the old leader acknowledges uploads that can
never commit, and the new leader's log overwrites them. The run must exit
non-zero with the set checker reporting those acknowledged uploads lost.

Without a network namespace (not root) the same fault comes from
kill-leader: acknowledged entries that only the killed leader had are gone.
"""

import json
import os
import sys

from certraft_cluster import run_tests
from jepsen import netns, smoke


def test_unsafe_ack_loses_writes_and_the_set_checker_says_so():
    ok, why = netns.can_make_namespace()
    nemesis = "isolate-leader" if ok else "kill-leader"
    if not ok:
        print("  no namespace (%s): using kill-leader" % why, flush=True)
    code, out = smoke.run_cli(
        ["--workload", "set", "--nemesis", nemesis, "--time", "20", "--nodes", "3",
         "--seed", "1", "--unsafe-ack", "--fault-min", "5", "--fault-max", "6",
         "--results", os.path.join(smoke.results_root(), "broken-node")], timeout=400)
    summary = [l for l in out.splitlines() if not l.startswith("[")]
    print("\n".join("  " + l for l in summary[-8:]), flush=True)
    assert code == 1, "the broken node was not caught (exit %d):\n%s" % (code, out[-4000:])
    verdict, folder = smoke.last_verdict(out)
    s = verdict["workloads"]["set"]
    kinds = {v["kind"] for v in s["violations"]}
    assert kinds & {"lost", "delete-not-found"}, "expected lost writes, got %s" % json.dumps(
        s["violations"][:5])
    lost = {v["key"] for v in s["violations"] if v["kind"] in ("lost", "delete-not-found")}
    print("  caught: %d acknowledged uploads lost (%s)" % (len(lost), folder), flush=True)
    for name in ("history.jsonl", "nemesis.jsonl", "verdict.json", "latency.png"):
        assert os.path.exists(os.path.join(folder, name)), name


if __name__ == "__main__":
    sys.exit(run_tests([test_unsafe_ack_loses_writes_and_the_set_checker_says_so]))
