#!/usr/bin/env python3
"""The Jepsen harness' checkers on hand-made histories: each must accept
the histories that are correct and flag the ones that are not (a stale
read, a lost write, a resurrected delete, a deleted certificate let in, a
certificate accepted outside its validity window)."""

import random
import sys
import time

from certraft_cluster import run_tests
from jepsen.checkers import ClockTimeline, check_auth, check_linearizable, \
    check_register, check_set

_ids = iter(range(10 ** 9))


def op(f, value, invoke, complete, outcome="ok", key="k", **kw):
    d = {"id": next(_ids), "f": f, "value": value, "invoke": invoke,
         "complete": complete, "outcome": outcome, "key": key}
    d.update(kw)
    return d


def w(v, a, b, outcome="ok", key="k"):
    return op("write", v, a, b, outcome, key)


def r(v, a, b, outcome="ok", key="k"):
    return op("read", v, a, b, outcome, key)


def expect(result, valid):
    assert result["valid"] == valid, "expected valid=%r, got %r" % (valid, result)
    return result


# --- register ----------------------------------------------------------------

def test_sequential_history_is_linearizable():
    expect(check_linearizable([w(1, 0, 1), r(1, 2, 3), w(2, 4, 5), r(2, 6, 7)], 0), True)


def test_initial_value_is_readable():
    expect(check_linearizable([r(0, 0, 1), w(1, 2, 3), r(1, 4, 5)], 0), True)


def test_stale_read_is_flagged():
    h = [w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)]
    res = expect(check_linearizable(h, 0), False)
    assert res["blocking_op"]["f"] == "read" and res["blocking_op"]["value"] == 1, res


def test_stale_read_is_flagged_per_key():
    h = [w(1, 0, 1, key="a"), w(2, 2, 3, key="a"), r(2, 4, 5, key="a"),
         w(1, 0, 1, key="b"), w(2, 2, 3, key="b"), r(1, 4, 5, key="b")]
    res = expect(check_register(h, {"a": 0, "b": 0}), False)
    assert [v["key"] for v in res["violations"]] == ["b"], res["violations"]


def test_read_concurrent_with_write_may_see_either():
    for seen in (1, 2):
        expect(check_linearizable([w(1, 0, 1), w(2, 2, 6), r(seen, 3, 4)], 0), True)


def test_reads_must_not_go_back_in_time():
    # w(1) is slow; one read sees it, a later read must not see 0 again.
    expect(check_linearizable([w(1, 0, 10), r(1, 1, 2), r(0, 3, 4)], 0), False)
    expect(check_linearizable([w(1, 0, 10), r(0, 1, 2), r(1, 3, 4)], 0), True)


def test_value_never_written_is_flagged():
    expect(check_linearizable([w(1, 0, 1), r(7, 2, 3)], 0), False)


def test_failed_write_must_not_be_seen():
    expect(check_linearizable([w(1, 0, 1, "fail"), r(1, 2, 3)], 0), False)
    expect(check_linearizable([w(1, 0, 1, "fail"), r(0, 2, 3)], 0), True)


def test_unknown_write_may_take_effect_late_or_never():
    base = [w(1, 0, 1), w(2, 2, 3, "unknown")]
    expect(check_linearizable(base + [r(1, 5, 6), r(2, 10, 11)], 0), True)
    expect(check_linearizable(base + [r(1, 5, 6), r(1, 10, 11)], 0), True)
    expect(check_linearizable(base + [r(2, 5, 6), r(1, 10, 11)], 0), False)


def test_unknown_write_cannot_act_before_it_was_invoked():
    expect(check_linearizable([w(1, 0, 1), r(2, 2, 3), w(2, 5, 6, "unknown")], 0), False)


def test_many_unobserved_unknown_writes_are_checked_quickly():
    # A partition leaves hundreds of writes of unknown outcome.
    h = [w(0, 0, 1)]
    for i in range(1, 400):
        h.append(w(i, i * 0.01, i * 0.01 + 0.5, "unknown"))
    h += [r(0, 10, 11), w(1000, 12, 13), r(1000, 14, 15)]
    start = time.monotonic()
    res = expect(check_register(h, {"k": 0}, time_limit=20), True)
    assert res["unobserved_unknown_writes_pruned"] == 399, res
    assert time.monotonic() - start < 5
    # ... while one that was observed still counts.
    h.append(r(7, 16, 17))
    h.append(r(1000, 18, 19))
    expect(check_register(h, {"k": 0}, time_limit=20), False)


def test_unknown_and_failed_reads_are_ignored():
    expect(check_linearizable([w(1, 0, 1), r(9, 2, 3, "fail"), r(None, 2, 3, "unknown"),
                               r(1, 4, 5)], 0), True)


def random_history(rng, n_ops, clients, p_unknown=0.05):
    """A register history that is linearizable by construction: each op
    takes effect at a random instant inside its [invoke, complete]."""
    ops, t = [], [0.0] * clients
    events = []
    value = 0
    for i in range(n_ops):
        c = rng.randrange(clients)
        inv = t[c] + rng.random()
        point = inv + rng.random() * 2
        comp = point + rng.random() * 2
        t[c] = comp
        if rng.random() < 0.5:
            events.append((point, "write", i + 1, inv, comp))
        else:
            events.append((point, "read", None, inv, comp))
    for point, f, v, inv, comp in sorted(events):
        if f == "write":
            value = v
            outcome = "unknown" if rng.random() < p_unknown else "ok"
            ops.append(w(v, inv, comp, outcome))
        else:
            ops.append(r(value, inv, comp))
    return ops


def test_random_linearizable_histories_pass():
    rng = random.Random(7)
    for _ in range(20):
        expect(check_linearizable(random_history(rng, 60, 4), 0), True)


def test_random_histories_with_one_stale_read_fail():
    rng = random.Random(11)
    caught = 0
    for _ in range(20):
        h = random_history(rng, 60, 4, p_unknown=0)
        # Append a read, strictly after everything, of an old value.
        end = max(o["complete"] for o in h)
        last_write = max((o for o in h if o["f"] == "write"), key=lambda o: o["complete"])
        old = [o["value"] for o in h if o["f"] == "write" and o["complete"] < last_write["invoke"]]
        if not old:
            continue
        h.append(r(old[0], end + 1, end + 2))
        expect(check_linearizable(h, 0), False)
        caught += 1
    assert caught >= 10, caught


def brute_force_linearizable(ops, init):
    """Every order of the ops that respects real time (and drops or keeps
    each unknown write), checked by replay: the definition, for tiny histories."""
    import itertools
    kept = [o for o in ops if o["outcome"] == "ok" or
            (o["outcome"] == "unknown" and o["f"] == "write")]
    maybe = [o for o in kept if o["outcome"] != "ok"]
    for k in range(len(maybe) + 1):
        for dropped in itertools.combinations(maybe, k):
            use = [o for o in kept if o not in dropped]
            for perm in itertools.permutations(use):
                ok, state = True, init
                for i, a in enumerate(perm):
                    # a must not start after a later op in the order ended
                    if any(b["outcome"] == "ok" and b["complete"] < a["invoke"]
                           for b in perm[i + 1:]):
                        ok = False
                        break
                    if a["f"] == "write":
                        state = a["value"]
                    elif a["value"] != state:
                        ok = False
                        break
                if ok:
                    return True
    return False


def test_search_agrees_with_brute_force_on_small_random_histories():
    rng = random.Random(5)
    seen = {True: 0, False: 0}
    for _ in range(300):
        ops = []
        for i in range(rng.randrange(2, 7)):
            a = rng.uniform(0, 10)
            b = a + rng.uniform(0.1, 4)
            outcome = rng.choice(["ok", "ok", "ok", "unknown", "fail"])
            if rng.random() < 0.5:
                ops.append(w(i + 1, a, b, outcome))
            else:
                ops.append(r(rng.randrange(0, 4), a, b, outcome))
        want = brute_force_linearizable(ops, 0)
        got = check_linearizable(ops, 0)["valid"]
        assert got == want, "checker says %r, brute force %r: %r" % (got, want, ops)
        seen[want] += 1
    assert seen[True] > 30 and seen[False] > 30, seen


def test_large_history_is_checked_quickly():
    rng = random.Random(3)
    h = random_history(rng, 3000, 6)
    start = time.monotonic()
    expect(check_linearizable(h, 0, time_limit=60), True)
    took = time.monotonic() - start
    print("  3000 ops, 6 clients: checked in %.2fs" % took)
    assert took < 30, took


# --- set ---------------------------------------------------------------------

def add(k, outcome="ok", t=0.0, status=None):
    return op("add", None, t, t + 0.1, outcome, key=k, status=status)


def delete(k, outcome="ok", t=1.0, status=None):
    return op("delete", None, t, t + 0.1, outcome, key=k, status=status)


def test_set_all_present_is_valid():
    h = [add("A"), add("B"), add("C", "unknown"), add("D", "fail"), add("E"), delete("E")]
    res = expect(check_set(h, {1: ["A", "B"], 2: ["A", "B"], 3: ["A", "B"]}), True)
    assert res["acknowledged"] == 3 and res["unknown_present"] == 0, res


def test_set_lost_write_is_flagged():
    h = [add("A"), add("B")]
    res = expect(check_set(h, {1: ["A", "B"], 2: ["A"], 3: ["A", "B"]}), False)
    kinds = sorted(v["kind"] for v in res["violations"])
    assert "lost" in kinds, res
    lost = [v for v in res["violations"] if v["kind"] == "lost"]
    assert lost == [{"kind": "lost", "key": "B", "node": 2, "add": h[1]["id"]}], lost


def test_set_lost_everywhere_is_flagged_on_every_node():
    h = [add("A"), add("B")]
    res = expect(check_set(h, {1: ["A"], 2: ["A"], 3: ["A"]}), False)
    assert sorted(v["node"] for v in res["violations"] if v["kind"] == "lost") == [1, 2, 3]


def test_set_resurrected_delete_is_flagged():
    h = [add("A"), delete("A")]
    res = expect(check_set(h, {1: ["A"], 2: [], 3: []}), False)
    assert {v["kind"] for v in res["violations"]} >= {"resurrected", "divergence"}, res


def test_set_unknown_outcomes_may_go_either_way():
    h = [add("A", "unknown"), add("B"), delete("B", "unknown")]
    expect(check_set(h, {1: ["A", "B"], 2: ["A", "B"]}), True)
    expect(check_set(h, {1: [], 2: []}), True)


def test_set_failed_add_present_is_flagged():
    res = expect(check_set([add("A", "fail")], {1: ["A"], 2: ["A"]}), False)
    assert res["violations"][0]["kind"] == "unexpected", res


def test_set_never_added_key_is_flagged():
    res = expect(check_set([add("A")], {1: ["A", "Z"], 2: ["A", "Z"]}), False)
    assert {v["kind"] for v in res["violations"]} == {"unexpected"}, res


def test_set_nodes_must_agree_even_on_unknown_adds():
    res = expect(check_set([add("A", "unknown")], {1: ["A"], 2: []}), False)
    assert res["violations"][0]["kind"] == "divergence", res


def test_set_delete_finding_nothing_means_the_add_was_lost():
    h = [add("A"), delete("A", "fail", status=404)]
    res = expect(check_set(h, {1: [], 2: []}), False)
    assert res["violations"][0]["kind"] == "delete-not-found", res


def test_set_unreadable_node_is_flagged():
    res = expect(check_set([add("A")], {1: ["A"], 2: None}), False)
    assert res["violations"][0]["kind"] == "unreadable", res


# --- auth --------------------------------------------------------------------

NB, NA = 1000.0, 1000.0 + 86400


def probe(kind, t, outcome, node=1, key="C", wall=None):
    return {"id": next(_ids), "f": "probe", "kind": kind, "key": key, "node": node,
            "invoke": t, "complete": t + 0.01, "outcome": outcome,
            "wall": NB + 10 + t if wall is None else wall, "not_before": NB, "not_after": NA}


def test_auth_refused_after_delete_is_valid():
    h = [probe("read", 1, "ok"), delete("C", t=2), probe("read", 3, "fail"),
         probe("write", 3, "fail"), probe("linear-read", 3, "unknown")]
    res = expect(check_auth(h), True)
    assert res["probes_after_delete"] == 3, res


def test_auth_write_after_delete_is_flagged():
    h = [delete("C", t=2), probe("write", 2.5, "ok", node=3)]
    res = expect(check_auth(h, local_grace=10), False)
    assert res["violations"][0]["probe"] == "write" and res["violations"][0]["node"] == 3


def test_auth_linearizable_read_after_delete_is_flagged():
    expect(check_auth([delete("C", t=2), probe("linear-read", 2.2, "ok")], local_grace=10), False)


def test_auth_local_read_is_allowed_a_bounded_staleness():
    h = [delete("C", t=2), probe("read", 2.5, "ok")]
    res = expect(check_auth(h, local_grace=1.0), True)
    assert res["stale_within_grace"] == 1
    expect(check_auth([delete("C", t=2), probe("read", 3.5, "ok")], local_grace=1.0), False)


def test_auth_probe_before_delete_ack_is_not_judged():
    # The delete completes at 2.1: a probe invoked at 2.05 may be let in.
    expect(check_auth([delete("C", t=2), probe("write", 2.05, "ok")]), True)


def test_auth_unacknowledged_delete_is_not_judged():
    expect(check_auth([delete("C", "unknown", t=2), probe("write", 5, "ok")]), True)


def test_auth_accepted_outside_validity_is_flagged():
    skew = 2 * 86400
    clock = ClockTimeline([(NB + 100, 2, skew), (NB + 200, 2, 0)])
    ok_then = probe("read", 0, "ok", node=2, wall=NB + 150)      # node 2 is 2 days ahead
    res = expect(check_auth([ok_then], clock), False)
    assert res["violations"][0]["kind"] == "outside-validity", res
    expect(check_auth([probe("read", 0, "fail", node=2, wall=NB + 150)], clock), True)
    expect(check_auth([probe("read", 0, "ok", node=1, wall=NB + 150)], clock), True)
    # Right at a change the node's clock is uncertain: not judged.
    expect(check_auth([probe("read", 0, "ok", node=2, wall=NB + 101)], clock), True)
    expect(check_auth([probe("read", 0, "ok", node=2, wall=NB + 250)], clock), True)


def test_auth_not_yet_valid_is_flagged():
    clock = ClockTimeline([(NB + 100, 1, -12 * 3600)])
    expect(check_auth([probe("read", 0, "ok", node=1, wall=NB + 150)], clock), False)


def main():
    sys.exit(run_tests([v for k, v in sorted(globals().items(), key=lambda kv: 0)
                        if k.startswith("test_") and callable(v)]))


if __name__ == "__main__":
    main()
