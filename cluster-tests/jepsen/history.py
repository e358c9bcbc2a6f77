"""Recording a history: every operation with its invoke and complete times
and its outcome.

Outcomes follow Jepsen: "ok" (it happened), "fail" (it certainly did not
happen: refused with a 4xx, or never sent because the connection could not
be made) and "unknown" (a 5xx, a timeout, a reset after the request went
out: it may or may not take effect, now or later). Times are seconds since
the start of the run on the monotonic clock; `wall` is the wall-clock time
at invocation, which the clock checks need.
"""

import json
import threading
import time

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


class History:
    def __init__(self, t0=None):
        self.t0 = time.monotonic() if t0 is None else t0
        self.ops = []
        self.lock = threading.Lock()
        self.next_id = 0

    def now(self):
        return time.monotonic() - self.t0

    def invoke(self, workload, process, f, **fields):
        """Start an operation; returns the dict to pass to complete()."""
        with self.lock:
            op_id = self.next_id
            self.next_id += 1
        op = {"id": op_id, "workload": workload, "process": process, "f": f,
              "invoke": self.now(), "wall": time.time()}
        op.update(fields)
        return op

    def complete(self, op, outcome, **fields):
        op["complete"] = self.now()
        op["outcome"] = outcome
        op.update(fields)
        with self.lock:
            self.ops.append(op)
        return op

    def of(self, workload):
        with self.lock:
            return [o for o in self.ops if o["workload"] == workload]

    def write_jsonl(self, path):
        with self.lock:
            ops = sorted(self.ops, key=lambda o: o["invoke"])
        with open(path, "w") as f:
            for o in ops:
                f.write(json.dumps(o, sort_keys=True) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
