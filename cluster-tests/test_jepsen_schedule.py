#!/usr/bin/env python3
"""The Jepsen harness' nemeses without a cluster: the shapes of the
partitions (halves, majorities ring, isolated leader), and a seed that
gives the same schedule whatever the cluster does (who leads, which
nodes answer)."""

import random
import sys

from certraft_cluster import run_tests
from jepsen import nemesis


class FakeNode:
    def __init__(self, i):
        self.id = i


class FakeCluster:
    def __init__(self, n, leader):
        self.nodes = {i: FakeNode(i) for i in range(1, n + 1)}
        self.leader = leader

    def current_leader(self, timeout=0):
        return self.nodes.get(self.leader)

    def members(self):
        return sorted(self.nodes)

    def wipe(self, node):
        pass


class FakeFirewall:
    def __init__(self):
        self.cut_pairs = None

    def cut(self, pairs):
        self.cut_pairs = list(pairs)

    def heal(self):
        self.cut_pairs = None


class FakeRun:
    def __init__(self, n, seed, leader=1):
        self.cluster = FakeCluster(n, leader)
        self.nemesis_rng = random.Random(seed)
        self.firewall = FakeFirewall()
        self.events = []
        self.removed = set()

    def kill(self, node):
        self.events.append(("kill", node.id))

    def restart(self, node):
        self.events.append(("restart", node.id))

    def pause(self, node):
        self.events.append(("pause", node.id))

    def resume(self, node):
        self.events.append(("resume", node.id))

    def set_skew(self, node, s):
        self.events.append(("skew", node.id, s))


def views(n, pairs):
    """Who each node can reach (itself included)."""
    cut = {frozenset(p) for p in pairs}
    return {a: frozenset(b for b in range(1, n + 1) if frozenset((a, b)) not in cut)
            for a in range(1, n + 1)}


def test_halves_split_a_minority_from_a_majority():
    for n in (3, 5):
        run = FakeRun(n, 1)
        pairs, detail = nemesis.PartitionHalves(run).pairs()
        assert len(detail["minority"]) == n // 2 and len(detail["majority"]) == n - n // 2
        v = views(n, pairs)
        for a in detail["minority"]:
            assert v[a] == frozenset(detail["minority"]), v
        for a in detail["majority"]:
            assert v[a] == frozenset(detail["majority"]), v


def test_ring_gives_every_node_a_different_majority():
    for n in (3, 5):
        for seed in range(10):
            pairs, _ = nemesis.PartitionRing(FakeRun(n, seed)).pairs()
            v = views(n, pairs)
            assert all(len(s) > n // 2 for s in v.values()), (n, v)
            if n == 5:
                assert len(set(v.values())) == n, v  # no two see the same majority
            else:  # 3 nodes: a bridge sees both ends, the ends one majority each
                assert sorted(len(s) for s in v.values()) == [2, 2, 3], v


def test_isolate_leader_cuts_the_leader_from_everyone():
    run = FakeRun(5, 1, leader=4)
    pairs, detail = nemesis.IsolateLeader(run).pairs()
    assert detail["isolated"] == 4
    v = views(5, pairs)
    assert v[4] == frozenset([4]) and all(len(v[i]) == 4 for i in (1, 2, 3, 5)), v


def drive(cls, n, seed, leaders):
    """start/stop a nemesis len(leaders) times, the cluster's leader
    changing as given; return what it did and the next random draw."""
    run = FakeRun(n, seed)
    nem = cls(run)
    done = []
    for lead in leaders:
        run.cluster.leader = lead
        d = nem.start()
        nem.stop()
        done.append(d)
    return done, run.events, run.nemesis_rng.random()


def test_same_seed_same_schedule():
    for cls in (nemesis.PartitionHalves, nemesis.PartitionRing, nemesis.KillMinority,
                nemesis.Pause, nemesis.Clock, nemesis.KillAll):
        a = drive(cls, 5, 7, [1, 1, 1, 1])
        b = drive(cls, 5, 7, [1, 1, 1, 1])
        assert a == b, cls.name


def test_seed_keeps_its_schedule_when_leaders_differ():
    # The random stream must not depend on who leads: every later choice
    # (and each window's length) stays the same for a given seed.
    for cls in (nemesis.Pause, nemesis.KillLeader, nemesis.IsolateLeader):
        _, _, next_a = drive(cls, 5, 11, [1, 2, 3, 4, 5, 1])
        _, _, next_b = drive(cls, 5, 11, [5, 5, None, 2, 2, 3])
        assert next_a == next_b, cls.name


def test_different_seeds_differ():
    a = drive(nemesis.KillMinority, 5, 1, [1] * 6)[1]
    b = drive(nemesis.KillMinority, 5, 2, [1] * 6)[1]
    assert a != b


if __name__ == "__main__":
    sys.exit(run_tests([test_halves_split_a_minority_from_a_majority,
                        test_ring_gives_every_node_a_different_majority,
                        test_isolate_leader_cuts_the_leader_from_everyone,
                        test_same_seed_same_schedule,
                        test_seed_keeps_its_schedule_when_leaders_differ,
                        test_different_seeds_differ]))
