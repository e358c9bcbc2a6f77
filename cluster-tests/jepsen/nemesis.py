"""Nemeses: faults injected on a seeded schedule.

Each nemesis has start() (inject, returns what it did) and stop() (heal).
The Schedule thread alternates quiet and fault windows whose lengths, like
every random choice a nemesis makes (which nodes, which skew), come from
one random.Random(seed): the same seed gives the same schedule. (Choices
that depend on the cluster, such as who leads, are what they are.)

  partition-halves   nodes split into a minority and a majority
  partition-ring     every node sees a majority, no two the same one
                     (for 3 nodes: a bridge, the middle node sees both)
  isolate-leader     the leader cut off from everyone
  kill-minority      kill -9 of a random minority, restarted at heal
  kill-leader        kill -9 of the leader, restarted at heal
  kill-all           kill -9 of every node, all restarted at heal
  pause              SIGSTOP of a random minority (the leader half the
                     time), SIGCONT at heal
  membership         remove a random node (moving leadership away first if
                     it leads), wipe it, and at heal add it back by
                     `certnode join` + add-node, all under load
  clock              one node's wall clock jumps +2 days or -12 hours
                     (libfaketime), crossing the workload certificates'
                     NotAfter / NotBefore; back to 0 at heal
"""

import threading
import time

from certraft_cluster import wait_until

from . import workloads

PARTITIONS = ("partition-halves", "partition-ring", "isolate-leader")
ALL = PARTITIONS + ("kill-minority", "kill-leader", "kill-all", "pause",
                    "membership", "clock")
SKEWS = (2 * 86400, -12 * 3600)


class Nemesis:
    name = "?"
    needs_netns = False
    needs_faketime = False

    def __init__(self, run):
        self.run = run
        self.cluster = run.cluster
        self.rng = run.nemesis_rng

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def node_ids(self):
        return sorted(self.cluster.nodes)

    def minority(self):
        ids = self.node_ids()
        return sorted(self.rng.sample(ids, (len(ids) - 1) // 2))

    def leader_id(self):
        lead = self.cluster.current_leader(timeout=10)
        return lead.id if lead else None


class Partition(Nemesis):
    needs_netns = True

    def pairs(self):
        raise NotImplementedError

    def start(self):
        pairs, detail = self.pairs()
        self.run.firewall.cut(pairs)
        detail["cut"] = [list(p) for p in pairs]
        return detail

    def stop(self):
        self.run.firewall.heal()
        return {}


class PartitionHalves(Partition):
    name = "partition-halves"

    def pairs(self):
        ids = self.node_ids()
        self.rng.shuffle(ids)
        small, big = sorted(ids[:len(ids) // 2]), sorted(ids[len(ids) // 2:])
        return [(a, b) for a in small for b in big], {"minority": small, "majority": big}


class PartitionRing(Partition):
    name = "partition-ring"

    def pairs(self):
        ids = self.node_ids()
        self.rng.shuffle(ids)
        n = len(ids)
        if n <= 3:  # a bridge: ids[1] sees both ends, the ends do not see each other
            return [(ids[0], ids[2])], {"bridge": ids[1], "ends": sorted([ids[0], ids[2]])}
        reach = (n // 2) // 2  # each side: n//2 others in all, a majority with itself
        cut = []
        for i in range(n):
            for j in range(i + 1, n):
                d = min(j - i, n - (j - i))
                if d > reach:
                    cut.append((ids[i], ids[j]))
        return cut, {"ring": ids}


class IsolateLeader(Partition):
    name = "isolate-leader"

    def pairs(self):
        fallback = self.rng.choice(self.node_ids())  # drawn always: see Pause
        lead = self.leader_id() or fallback
        return [(lead, o) for o in self.node_ids() if o != lead], {"isolated": lead}


class Kill(Nemesis):
    def targets(self):
        raise NotImplementedError

    def start(self):
        self.killed = self.targets()
        for i in self.killed:
            self.run.kill(self.cluster.nodes[i])
        return {"killed": self.killed}

    def stop(self):
        for i in self.killed:
            self.run.restart(self.cluster.nodes[i])
        return {"restarted": self.killed}


class KillMinority(Kill):
    name = "kill-minority"

    def targets(self):
        return self.minority()


class KillLeader(Kill):
    name = "kill-leader"

    def targets(self):
        fallback = self.rng.choice(self.node_ids())  # drawn always: see Pause
        lead = self.leader_id()
        return [lead] if lead else [fallback]


class KillAll(Kill):
    name = "kill-all"

    def targets(self):
        return self.node_ids()


class Pause(Nemesis):
    name = "pause"

    def start(self):
        ids = self.minority()
        # Draw every random number whatever the cluster does, so that the
        # rest of the schedule stays the same for a given seed.
        with_leader, slot = self.rng.random() < 0.5, self.rng.randrange(len(ids))
        if with_leader:
            lead = self.leader_id()
            if lead and lead not in ids:
                ids[slot] = lead
        self.paused = sorted(ids)
        for i in self.paused:
            self.run.pause(self.cluster.nodes[i])
        return {"paused": self.paused}

    def stop(self):
        for i in self.paused:
            self.run.resume(self.cluster.nodes[i])
        return {"resumed": self.paused}


class Membership(Nemesis):
    name = "membership"

    def start(self):
        c = self.cluster
        target = self.rng.choice(self.node_ids())
        others = [i for i in self.node_ids() if i != target]
        to = self.rng.choice(others)  # drawn always: see Pause
        self.removed = None
        detail = {"target": target}
        lead = self.leader_id()
        if lead is None:
            detail["skipped"] = "no leader"
            return detail
        if lead == target:
            r = workloads.call(self.run.admin_ctx, c.nodes[lead].url, "POST",
                               "/admin/cluster/transfer-leadership?id=%d" % to)
            detail["transfer"] = {"to": to, **r.note()}
            wait_until("leadership to move off node %d" % target,
                       lambda: (self.leader_id() or target) != target, timeout=15)
            lead = self.leader_id()
        r = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lead = self.leader_id()
            if lead is None or lead == target:
                time.sleep(0.2)
                continue
            r = workloads.call(self.run.admin_ctx, c.nodes[lead].url, "DELETE",
                               "/admin/cluster/node?id=%d" % target)
            if r.status in (200, 404):
                break
            time.sleep(0.3)
        detail["remove"] = r.note() if r else None
        if r is None or r.status not in (200, 404):
            detail["skipped"] = "removal not acknowledged"
            return detail
        wait_until("node %d to leave the configuration" % target,
                   lambda: target not in (c.members() or [target]), timeout=20)
        self.run.kill(c.nodes[target])
        c.wipe(c.nodes[target])
        self.removed = target
        self.run.removed.add(target)
        return detail

    def stop(self):
        if self.removed is None:
            return {}
        node = self.cluster.nodes[self.removed]
        self.run.rejoin(node)
        self.run.removed.discard(self.removed)
        self.removed = None
        return {"rejoined": node.id}


class Clock(Nemesis):
    name = "clock"
    needs_faketime = True

    def start(self):
        self.node = self.rng.choice(self.node_ids())
        skew = self.rng.choice(SKEWS)
        self.run.set_skew(self.cluster.nodes[self.node], skew)
        return {"node": self.node, "skew_seconds": skew}

    def stop(self):
        self.run.set_skew(self.cluster.nodes[self.node], 0)
        return {"node": self.node, "skew_seconds": 0}


NEMESES = {cls.name: cls for cls in (PartitionHalves, PartitionRing, IsolateLeader,
                                     KillMinority, KillLeader, KillAll, Pause,
                                     Membership, Clock)}


class Schedule(threading.Thread):
    """Quiet, fault, quiet, fault ... until the run's time is up; then heal.
    Several nemeses in one run take turns."""

    def __init__(self, run, nemeses, fault=(4.0, 8.0), quiet=(4.0, 7.0), first_quiet=3.0):
        super().__init__(name="nemesis", daemon=True)
        self.ctx, self.nemeses = run, nemeses
        self.fault, self.quiet, self.first_quiet = fault, quiet, first_quiet
        self.error = None

    def sleep_until(self, t):
        while not self.ctx.stopping() and self.ctx.history.now() < t:
            time.sleep(min(0.1, max(0.0, t - self.ctx.history.now())))

    def run_one(self, nem, start_at):
        h, rng = self.ctx.history, self.ctx.nemesis_rng
        duration = rng.uniform(*self.fault)
        t0, w0 = h.now(), time.time()
        try:
            detail = nem.start()
        except Exception as exc:  # record the failure to inject, then heal
            detail = {"error": repr(exc)}
        self.ctx.timeline_event(nem.name, "start", t0, w0, detail)
        self.sleep_until(t0 + duration)
        t1, w1 = h.now(), time.time()
        try:
            detail = nem.stop()
        except Exception as exc:
            detail = {"error": repr(exc)}
        self.ctx.timeline_event(nem.name, "stop", t1, w1, detail)
        self.ctx.faults.append({"nemesis": nem.name, "start": t0, "end": h.now()})

    def run(self):
        try:
            self.sleep_until(self.first_quiet)
            k = 0
            while not self.ctx.stopping():
                nem = self.nemeses[k % len(self.nemeses)]
                k += 1
                self.run_one(nem, self.ctx.history.now())
                if self.ctx.stopping():
                    break
                self.sleep_until(self.ctx.history.now() +
                                 self.ctx.nemesis_rng.uniform(*self.quiet))
        except Exception as exc:
            self.error = exc
