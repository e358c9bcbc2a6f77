#!/usr/bin/env python3
"""An ETL task survives losing the node that runs it.

Two 3-node clusters linked as in test_etl_link.py. While 5,000
documents are being written to A's `hr`, and B has received part of them,
A's node running the task (the leader) is killed with SIGKILL. Another
node of A takes over from the progress in A's log; the writer carries on
through the survivors. B's `public` ends with exactly the expected
documents: none lost, none duplicated (ids are the source's), no salary.
The status names the new node, and the killed node, restarted, agrees.
"""

import os
import sys
import threading
import time

from certraft_cluster import Cluster, run_tests, wait_until
from etl_helpers import (define, docs_on, employee, expected_public, link, no_salary_anywhere,
                         status, wait_caught_up, wait_docs, write_docs)

A = None
B = None
N_DOCS = int(os.environ.get("ETL_DOCS", "5000"))


def test_kill_the_running_node_mid_stream():
    define(A, B)
    docs = {"employees/%05d" % i: employee(i) for i in range(N_DOCS)}
    want = expected_public(docs)
    errors = []

    def writer():
        try:
            write_docs(A, "hr", docs, threads=6, deadline=120)
        except Exception as exc:  # reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    # Mid-stream: B has some of it, far from all.
    wait_until("B to receive part of the stream", lambda: len(docs_on(B, "public")) >= len(want) // 5,
               timeout=60, interval=0.1)
    # The node running the task says so (the status is served by it).
    running = A.nodes[wait_until("the running node", lambda: status(A)["RunningOn"])]
    at_kill = len(docs_on(B, "public"))
    running.kill()
    print("     killed node %d with %d of %d documents on B" % (running.id, at_kill, len(want)),
          flush=True)
    assert at_kill < len(want), "the stream was over before the kill"
    new_lead = A.leader(timeout=30)
    assert new_lead.id != running.id
    t.join()
    assert not errors, errors
    got = wait_docs(B, "public", want, timeout=120)
    no_salary_anywhere(got)
    s = wait_caught_up(A)
    assert s["RunningOn"] == A.leader().id != running.id, s
    assert s["LagEntries"] == 0, s
    # The killed node comes back and sees the same progress.
    running.start()
    wait_until("node %d back" % running.id, running.ready, timeout=30)
    def progress_on(n):
        return A.admin.request(n.url, "GET", "/databases/hr/admin/etl?name=to-public").json()[
            "ProgressIndex"]
    wait_until("node %d to have the final progress" % running.id,
               lambda: progress_on(running) >= s["ProgressIndex"], timeout=30)
    assert docs_on(B, "public") == want


def main():
    global A, B
    with Cluster(3) as a, Cluster(3) as b:
        A, B = a, b
        link(a, b)
        code = run_tests([test_kill_the_running_node_mid_stream], a)
        if code:
            b.dump_logs()
    sys.exit(code)


if __name__ == "__main__":
    main()
