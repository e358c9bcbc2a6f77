"""Checkers: pure functions from a history to a verdict.

Every checker returns a dict with "valid" (True, False, or "unknown" when
a search ran out of time), counts, and a list of "violations", each a dict
with a "kind" and the evidence (op ids, keys, nodes). Nothing here touches
the network, so each checker is unit-tested on hand-made histories
(cluster-tests/test_jepsen_checkers.py).

set       unique uploads and deletes, then final reads of every node
register  per-key linearizability of writes and linearizable reads:
          the Wing-Gong search with Lowe's memoisation of (linearized ops,
          state), as Knossos' "linear" and Porcupine do it
auth      after a delete is acknowledged, no node lets the certificate in;
          and no node accepts a certificate outside its validity window
          by that node's (possibly skewed) clock
"""

import math
import time

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


# --- set -------------------------------------------------------------------

def check_set(ops, final_views):
    """ops: {"f": "add"|"delete", "key", "outcome", "status"?, "id"};
    final_views: {node: iterable of keys present (restricted to keys this
    workload could have written), or None if the node could not be read}.

    Violations:
      lost            an acknowledged add, never the target of a delete,
                      missing on some node
      resurrected     an acknowledged delete whose key is present
      unexpected      present although its add definitely failed, or a key
                      that was never added at all
      delete-not-found  a delete answered 404 for an acknowledged add that
                      no earlier delete had touched (the add was lost)
      divergence      nodes that disagree
      unreadable      a node that could not be read after healing
    """
    adds, deletes = {}, {}
    for o in ops:
        if o["f"] == "add":
            adds[o["key"]] = o
        elif o["f"] == "delete":
            deletes.setdefault(o["key"], []).append(o)
    violations = []
    views = {}
    for node, view in sorted(final_views.items()):
        if view is None:
            violations.append({"kind": "unreadable", "node": node})
        else:
            views[node] = set(view)

    acked = {k for k, o in adds.items() if o["outcome"] == OK}
    failed = {k for k, o in adds.items() if o["outcome"] == FAIL}
    unknown = {k for k, o in adds.items() if o["outcome"] == UNKNOWN}
    touched = {k for k, ds in deletes.items()
               if any(d["outcome"] != FAIL or d.get("status") == 404 for d in ds)}
    deleted_ok = {k for k, ds in deletes.items()
                  if any(d["outcome"] == OK for d in ds)}

    must_have = acked - touched
    for node, view in views.items():
        for k in sorted(must_have - view):
            violations.append({"kind": "lost", "key": k, "node": node,
                               "add": adds[k]["id"]})
        for k in sorted(view & deleted_ok):
            violations.append({"kind": "resurrected", "key": k, "node": node,
                               "delete": [d["id"] for d in deletes[k]
                                          if d["outcome"] == OK]})
        for k in sorted(view & failed):
            violations.append({"kind": "unexpected", "key": k, "node": node,
                               "add": adds[k]["id"], "why": "its add failed"})
        for k in sorted(view - set(adds)):
            violations.append({"kind": "unexpected", "key": k, "node": node,
                               "why": "never added"})
    for k, ds in sorted(deletes.items()):
        if k not in acked:
            continue
        ordered = sorted(ds, key=lambda d: d["invoke"])
        first = ordered[0]
        if first.get("status") == 404:
            violations.append({"kind": "delete-not-found", "key": k,
                               "add": adds[k]["id"], "delete": first["id"]})
    if len(views) > 1:
        distinct = {frozenset(v) for v in views.values()}
        if len(distinct) > 1:
            union = set().union(*views.values())
            common = set.intersection(*views.values())
            violations.append({
                "kind": "divergence",
                "differing": {str(n): sorted(v - common) for n, v in views.items()
                              if v != common},
                "missing": {str(n): sorted(union - v) for n, v in views.items()
                            if v != union}})
    present_any = set().union(*views.values()) if views else set()
    return {
        "valid": not violations,
        "attempted": len(adds),
        "acknowledged": len(acked),
        "failed": len(failed),
        "unknown": len(unknown),
        "unknown_present": len(unknown & present_any),
        "deletes_acknowledged": len(deleted_ok),
        "must_be_present": len(must_have),
        "nodes_read": len(views),
        "violations": violations,
    }


# --- register (linearizability) ----------------------------------------------

class _Entry:
    __slots__ = ("op", "idx", "is_call", "match", "prev", "next")

    def __init__(self, op, idx, is_call):
        self.op, self.idx, self.is_call = op, idx, is_call
        self.match = self.prev = self.next = None


def register_step(state, op):
    """A read/write register: (ok?, new state)."""
    if op["f"] == "write":
        return True, op["value"]
    return op["value"] == state, state


def check_linearizable(ops, init, step=register_step, time_limit=60.0):
    """Is this single-object history linearizable from state `init`?

    ops: {"f", "value", "invoke", "complete", "outcome", "id"}. Failed ops
    never happened and are dropped; unknown reads tell nothing and are
    dropped; unknown writes may take effect at any time after invocation
    (their completion is +infinity), or never (placed last, they change
    nothing that was observed).

    The search (Wing & Gong, with Lowe's cache as in Knossos and
    Porcupine): walk the events in time order; at a call, try to linearize
    that op now (step() must accept it, and the pair (set of linearized
    ops, state) must be new); at a return whose op is not yet linearized,
    backtrack. Valid when every event has been consumed."""
    kept = []
    for o in ops:
        if o["outcome"] == FAIL:
            continue
        if o["outcome"] == UNKNOWN and o["f"] != "write":
            continue
        kept.append(o)
    events = []
    for i, o in enumerate(kept):
        end = o["complete"] if o["outcome"] == OK else math.inf
        call, ret = _Entry(o, i, True), _Entry(o, i, False)
        call.match = ret
        events.append((o["invoke"], 0, call))
        events.append((end, 1, ret))
    # Calls before returns at equal times: such ops count as concurrent.
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Entry(None, -1, False)
    prev = head
    for _, _, e in events:
        prev.next = e
        e.prev = prev
        prev = e

    def lift(e):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev
        m = e.match
        m.prev.next = m.next
        if m.next is not None:
            m.next.prev = m.prev

    def unlift(e):
        m = e.match
        m.prev.next = m
        if m.next is not None:
            m.next.prev = m
        e.prev.next = e
        e.next.prev = e

    state, linearized = init, 0
    cache = set()
    stack = []
    entry = head.next
    deadline = time.monotonic() + time_limit
    steps = 0
    best = (-1, None, None)  # (ops linearized, blocking op, state then)
    while head.next is not None:
        steps += 1
        if steps % 4096 == 0 and time.monotonic() > deadline:
            return {"valid": "unknown", "ops": len(kept),
                    "why": "search exceeded %.0fs" % time_limit}
        if entry.is_call:
            ok, new_state = step(state, entry.op)
            if ok:
                lin = linearized | (1 << entry.idx)
                key = (lin, new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state, linearized = new_state, lin
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            depth = len(stack)
            if depth > best[0]:
                best = (depth, entry.op, state)
            if not stack:
                break
            top, state = stack.pop()
            linearized &= ~(1 << top.idx)
            unlift(top)
            entry = top.next
    if head.next is None:
        return {"valid": True, "ops": len(kept), "states_explored": len(cache)}
    depth, op, st = best
    concurrent = [o["id"] for o in kept
                  if op is not None and o is not op and
                  o["invoke"] <= op["complete"] and
                  (o["outcome"] != OK or o["complete"] >= op["invoke"])]
    return {"valid": False, "ops": len(kept), "linearized_before_failure": depth,
            "blocking_op": op, "state_there": st,
            "concurrent_ops": concurrent[:20],
            "states_explored": len(cache)}


def check_register(ops, init, time_limit=60.0):
    """Per-key linearizability (registers are independent, so the history
    splits by key: P-compositionality). init: {key: initial value}."""
    by_key = {}
    for o in ops:
        by_key.setdefault(o["key"], []).append(o)
    # Every write has a unique value, so a write of unknown outcome that no
    # read ever returned can be dropped: had it taken effect, no read sat
    # between it and the next write, and placed last it changes nothing.
    # Without this, each such write doubles the search space (a partition
    # leaves hundreds of them).
    pruned = 0
    for key, kops in by_key.items():
        seen = {o["value"] for o in kops if o["f"] == "read" and o["outcome"] == OK}
        keep = [o for o in kops if not (o["f"] == "write" and o["outcome"] == UNKNOWN
                                         and o["value"] not in seen)]
        pruned += len(kops) - len(keep)
        by_key[key] = keep
    results, violations, valid = {}, [], True
    for key, kops in sorted(by_key.items()):
        r = check_linearizable(kops, init.get(key), time_limit=time_limit)
        results[key] = {k: v for k, v in r.items() if k != "blocking_op"}
        if r["valid"] is False:
            valid = False
            violations.append({"kind": "nonlinearizable", "key": key,
                               "blocking_op": r["blocking_op"],
                               "state_there": r["state_there"],
                               "concurrent_ops": r["concurrent_ops"]})
        elif r["valid"] == "unknown" and valid is True:
            valid = "unknown"
    count = lambda f, out: sum(1 for o in ops if o["f"] == f and o["outcome"] == out)
    return {"valid": valid, "keys": results, "violations": violations,
            "writes_ok": count("write", OK), "writes_unknown": count("write", UNKNOWN),
            "reads_ok": count("read", OK), "ops": len(ops),
            "unobserved_unknown_writes_pruned": pruned}


# --- auth --------------------------------------------------------------------

class ClockTimeline:
    """Which skew (seconds) each node's wall clock had, from the nemesis'
    records. A probe within `margin` seconds of a change is uncertain (the
    node reads its fake-time file at most once a second)."""

    def __init__(self, changes=(), margin=2.5):
        # changes: (wall time, node, skew seconds) in any order
        self.by_node = {}
        for wall, node, skew in sorted(changes):
            self.by_node.setdefault(node, []).append((wall, skew))
        self.margin = margin

    def skew(self, node, wall):
        """The node's skew at `wall`, or None if uncertain."""
        skew = 0.0
        for t, s in self.by_node.get(node, []):
            if abs(wall - t) < self.margin:
                return None
            if t <= wall:
                skew = s
        return skew


def check_auth(ops, clock=None, local_grace=0.0):
    """ops: the auth workload's history:
      {"f": "delete", "key", "outcome", "complete"}  (by an administrator)
      {"f": "probe", "kind": "read"|"linear-read"|"write", "key", "node",
       "outcome": ok (let in) | fail (refused: 401/403) | unknown (no answer),
       "invoke", "wall", "not_before", "not_after"}

    Violations:
      after-delete    the certificate was let in by a probe invoked after
                      its delete was acknowledged (for local reads: more
                      than `local_grace` seconds after)
      outside-validity  a node let in a certificate at a moment its own
                      clock (wall + known skew) put outside NotBefore ..
                      NotAfter (local reads only: a node answers them alone)
    """
    clock = clock or ClockTimeline()
    deleted_at = {}
    for o in ops:
        if o["f"] == "delete" and o["outcome"] == OK:
            deleted_at[o["key"]] = min(o["complete"], deleted_at.get(o["key"], math.inf))
    violations = []
    counts = {"probes": 0, "allowed": 0, "refused": 0, "no_answer": 0,
              "probes_after_delete": 0, "stale_within_grace": 0, "max_stale_seconds": 0.0,
              "deletes_acknowledged": len(deleted_at), "clock_probes_checked": 0,
              "clock_probes_outside_window": 0}
    for o in ops:
        if o["f"] != "probe":
            continue
        counts["probes"] += 1
        allowed = o["outcome"] == OK
        counts["allowed" if allowed else
               "refused" if o["outcome"] == FAIL else "no_answer"] += 1
        d = deleted_at.get(o["key"])
        if allowed and (d is None or o["invoke"] < d):
            k = "allowed_before_delete_" + o["kind"]
            counts[k] = counts.get(k, 0) + 1
        if d is not None and o["invoke"] > d:
            counts["probes_after_delete"] += 1
            if allowed:
                late = o["invoke"] - d
                if o["kind"] == "read" and late <= local_grace:
                    counts["stale_within_grace"] += 1
                    counts["max_stale_seconds"] = round(max(counts["max_stale_seconds"], late), 3)
                else:
                    violations.append({
                        "kind": "after-delete", "probe": o["kind"],
                        "key": o["key"], "node": o["node"], "op": o["id"],
                        "seconds_after_delete_ack": round(late, 3)})
        if o["kind"] == "read" and "not_before" in o and o["outcome"] != UNKNOWN:
            skew = clock.skew(o["node"], o["wall"])
            if skew is None:
                continue
            counts["clock_probes_checked"] += 1
            node_now = o["wall"] + skew
            outside = node_now < o["not_before"] or node_now > o["not_after"]
            if outside:
                counts["clock_probes_outside_window"] += 1
                if allowed:
                    violations.append({
                        "kind": "outside-validity", "key": o["key"],
                        "node": o["node"], "op": o["id"], "skew": skew})
    out = {"valid": not violations, "violations": violations}
    out.update(counts)
    return out
