"""One run, and the command line that runs one or many.

A run: start a cluster (3 or 5 nodes), set the workloads up, start their
clients and the nemesis schedule, stop the clients when time is up, heal
every fault, wait for the cluster to recover, make the final reads, check,
and write the results folder:

  history.jsonl   every operation: invoke/complete times, node, outcome
  nemesis.jsonl   the fault timeline (start/stop events with details)
  verdict.json    each checker's verdict, counts and violations
  latency.png     latency and throughput over time, faults shaded
  summary.txt     the short version, as printed
  cluster/        node logs (and, when the run failed, data directories)

Exit status: 0 valid, 1 a violation (or a crash), 2 the harness could not
run, 3 a checker could not decide in time.

The outer command (no --inside) starts each run in a fresh network
namespace when root (see netns.py), otherwise directly on loopback.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from certraft_cluster import ROOT, wait_until  # noqa: E402

from . import checkers, netns, plot  # noqa: E402
from .db import JepsenCluster, faketime_library  # noqa: E402
from .history import History  # noqa: E402
from .nemesis import ALL as ALL_NEMESES, NEMESES, Schedule  # noqa: E402
from .workloads import WORKLOADS, ssl_context  # noqa: E402

CRASH = "crash"


def default_results():
    build = os.environ.get("CERTRAFT_BUILD", os.path.join(ROOT, "build"))
    return os.path.join(build, "jepsen-results")


class Run:
    def __init__(self, args, run_dir, in_netns):
        self.args = args
        self.dir = run_dir
        self.in_netns = in_netns
        self.seed = args.seed
        self.nemesis_rng = random.Random(args.seed)
        self.history = History()
        self.timeline = []
        self.faults = []
        self.clock_changes = []
        self.removed = set()
        self.expected_down = set()
        self.paused = set()
        self.crashes = []
        self.last_heal = -1e9  # history time of the last nemesis stop
        self.heal_errors = []
        self.client_errors = []
        self.node_lock = threading.Lock()
        self._stop = threading.Event()
        self.final_timeout = 60.0
        self.checker_time_limit = args.checker_time_limit
        # How stale a local read may be: a node cut off from the majority
        # notices within an election timeout that its leader is gone, and
        # refuses everything once it has had no contact for StaleAfterMs
        # (3 election timeouts by default): 4 election timeouts, plus slack.
        self.local_read_grace = (args.local_read_grace if args.local_read_grace is not None
                                 else 4.5 * args.election_timeout / 1000.0)
        self.cluster = None
        self.firewall = None

    def stopping(self):
        return self._stop.is_set()

    def log(self, msg):
        line = "[%6.1fs] %s" % (self.history.now(), msg)
        print(line, flush=True)
        with open(os.path.join(self.dir, "run.log"), "a") as f:
            f.write(line + "\n")

    def timeline_event(self, nemesis, what, t, wall, detail):
        ev = {"nemesis": nemesis, "event": what, "time": round(t, 3), "wall": wall,
              "detail": detail}
        self.timeline.append(ev)
        if what == "stop":
            self.last_heal = self.history.now()
        self.log("nemesis %s %s %s" % (nemesis, what, json.dumps(detail)))

    # --- node control shared by nemeses and healing -------------------------------

    def kill(self, node):
        with self.node_lock:
            self.expected_down.add(node.id)
            node.kill()

    def restart(self, node):
        with self.node_lock:
            if node.id in self.removed or node.running():
                return
            node.start()
            self.expected_down.discard(node.id)

    def pause(self, node):
        with self.node_lock:
            if node.running():
                node.pause()
                self.paused.add(node.id)

    def resume(self, node):
        with self.node_lock:
            if node.running():
                node.resume()
            self.paused.discard(node.id)

    def set_skew(self, node, seconds):
        node.set_skew(seconds)
        self.clock_changes.append((time.time(), node.id, seconds))

    def rejoin(self, node):
        with self.node_lock:
            self.expected_down.add(node.id)
            if node.running():
                node.kill()
        self.cluster.wipe(node)
        self.cluster.join(node)
        with self.node_lock:
            self.expected_down.discard(node.id)

    def watch_crashes(self):
        """Nodes that exit when no nemesis killed them crashed: record it
        (with the exit status and the log's tail) and start them again."""
        while not self._watch_stop.is_set():
            with self.node_lock:
                for n in self.cluster.nodes.values():
                    if (n.proc is not None and n.proc.poll() is not None and
                            n.id not in self.expected_down and n.id not in self.removed):
                        code = n.proc.returncode
                        self.crashes.append({"node": n.id, "time": round(self.history.now(), 3),
                                             "exit": code, "log_tail": n.log()[-2000:]})
                        self.log("node %d CRASHED (exit %s); restarting it" % (n.id, code))
                        try:
                            n.start()
                        except Exception as exc:
                            self.log("restart of node %d failed: %r" % (n.id, exc))
            self._watch_stop.wait(0.5)

    # --- the run ------------------------------------------------------------------

    def heal_everything(self):
        c = self.cluster
        if self.firewall is not None:
            self.firewall.heal()
        for n in c.nodes.values():
            if n.id in self.paused:
                self.resume(n)
            if c.faketime:
                self.set_skew(n, 0)
        for n in c.nodes.values():
            if n.id not in self.removed and not n.running():
                self.restart(n)
        for node_id in sorted(self.removed):
            try:
                self.rejoin(c.nodes[node_id])
                self.removed.discard(node_id)
            except Exception as exc:  # the cluster check reports it
                self.heal_errors.append("rejoin of node %d: %r" % (node_id, exc))
                self.log("HEAL FAILED: rejoin of node %d: %r" % (node_id, exc))

    def recovered(self):
        members = self.cluster.members()
        return members == sorted(self.cluster.nodes) and all(
            t.get("Leader") is not None for t in self.cluster.topologies().values()) and \
            len(self.cluster.topologies()) == len(self.cluster.nodes)

    def execute(self):
        a = self.args
        tuning = ["--election-timeout", str(a.election_timeout),
                  "--snapshot-threshold", str(a.snapshot_threshold),
                  "--snapshot-trailing", str(max(8, a.snapshot_threshold // 4))]
        if a.unsafe_ack:
            tuning.append("--unsafe-ack-before-commit")
        tuning += a.tuning
        nemeses = [] if a.nemesis == ["none"] else a.nemesis
        wants_clock = "clock" in nemeses
        self.cluster = c = JepsenCluster(a.nodes, self.in_netns, tuning=tuning,
                                         faketime=wants_clock,
                                         directory=os.path.join(self.dir, "cluster"))
        self.log("starting %d nodes (%s)" % (a.nodes, "network namespace, node i on "
                 "127.0.0.i" if self.in_netns else "plain loopback"))
        c.start()
        self.admin_ctx = ssl_context(c.cacert, c.admin_cert, c.admin_key)
        if self.in_netns:
            self.firewall = netns.Firewall(c)
        self.workloads = [WORKLOADS[w](self) for w in a.workload]
        for w in self.workloads:
            w.setup()
        nems = [NEMESES[n](self) for n in nemeses]
        self.history = History()  # time 0 = clients start
        self._watch_stop = threading.Event()
        watcher = threading.Thread(target=self.watch_crashes, daemon=True)
        watcher.start()
        threads = []
        for w in self.workloads:
            for i in range(w.client_count(a.nodes)):
                process = len(threads)
                w.home[process] = i
                rng = random.Random("%s-%s-%d" % (self.seed, w.name, i))
                t = threading.Thread(target=self.client_main, args=(w, process, rng),
                                     name="%s-%d" % (w.name, process), daemon=True)
                threads.append(t)
        for t in threads:
            t.start()
        schedule = None
        if nems:
            schedule = Schedule(self, nems, fault=(a.fault_min, a.fault_max),
                                quiet=(a.quiet_min, a.quiet_max))
            schedule.start()
        self.log("workloads %s, nemesis %s, %ss" % (",".join(a.workload),
                                                    ",".join(nemeses) or "none", a.time))
        deadline = time.monotonic() + a.time
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        self._stop.set()
        join_by = time.monotonic() + 60  # every request has a 5 s timeout
        for t in threads:
            t.join(timeout=max(0.0, join_by - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if schedule is not None:
            schedule.join(timeout=180)
        self.log("time is up: %d operations; healing" % len(self.history.ops))
        self.heal_everything()
        recovered = True
        try:
            wait_until("the cluster to recover (leader, all members)", self.recovered,
                       timeout=90, interval=0.5)
        except AssertionError as exc:
            recovered = False
            self.log(str(exc))
        self.log("recovered" if recovered else "NOT recovered")
        for w in self.workloads:
            w.final()
            self.log("final reads of %s done" % w.name)
        self._watch_stop.set()
        watcher.join(timeout=5)
        verdict = {"workloads": {}}
        for w in self.workloads:
            verdict["workloads"][w.name] = w.check()
        nemesis_errors = [ev for ev in self.timeline
                          if isinstance(ev.get("detail"), dict) and "error" in ev["detail"]]
        no_faults = bool(nems) and not self.faults
        verdict["cluster"] = {
            "valid": recovered and not self.crashes and not stuck and
            not self.heal_errors and not self.client_errors and
            not (schedule and schedule.error) and not nemesis_errors and not no_faults,
            "faults_injected": len(self.faults), "nemesis_errors": nemesis_errors,
            "recovered_after_heal": recovered, "crashes": self.crashes,
            "stuck_clients": stuck, "heal_errors": self.heal_errors,
            "client_errors": self.client_errors,
            "nemesis_error": repr(schedule.error) if schedule and schedule.error else None}
        return verdict

    def client_main(self, workload, process, rng):
        try:
            workload.client_loop(process, rng)
        except Exception as exc:  # a client bug must not pass silently
            self.log("client %d (%s) died: %r" % (process, workload.name, exc))
            self.client_errors.append("client %d (%s): %r" % (process, workload.name, exc))
            self.timeline.append({"nemesis": "harness", "event": "client-died",
                                  "time": self.history.now(), "detail": repr(exc)})
            raise


def summarize(args, verdict, run):
    ops = run.history.ops
    lines = []
    faults = len(run.faults)
    by = {}
    for o in ops:
        k = (o["workload"], o["outcome"])
        by[k] = by.get(k, 0) + 1
    nviol = 0
    for name, v in verdict["workloads"].items():
        nv = len(v["violations"])
        nviol += nv
        lines.append("  %-8s valid=%-5s ops=%d (ok %d, fail %d, unknown %d) violations=%d" % (
            name, v["valid"], sum(n for (w, _), n in by.items() if w == name),
            by.get((name, "ok"), 0), by.get((name, "fail"), 0), by.get((name, "unknown"), 0), nv))
        if name == "set":
            lines.append("           acknowledged uploads %d, must be present %d, unknown present "
                         "%d/%d" % (v["acknowledged"], v["must_be_present"],
                                    v["unknown_present"], v["unknown"]))
        elif name == "register":
            lines.append("           linearizable: writes ok %d, unknown %d (%d never read, "
                         "pruned), reads ok %d" % (v["writes_ok"], v["writes_unknown"],
                                                   v["unobserved_unknown_writes_pruned"],
                                                   v["reads_ok"]))
        elif name == "auth":
            lines.append("           deletes acknowledged %d, probes after them %d, local reads "
                         "still let in within grace %d (at most %.3fs), clock probes refused "
                         "outside validity %d" % (
                             v["deletes_acknowledged"], v["probes_after_delete"],
                             v["stale_within_grace"], v["max_stale_seconds"],
                             v["clock_probes_outside_window"]))
        for viol in v["violations"][:5]:
            lines.append("      %s" % json.dumps(viol, default=str)[:400])
    cl = verdict["cluster"]
    nviol += len(cl["crashes"]) + (0 if cl["recovered_after_heal"] else 1)
    nviol += len(verdict.get("shutdown_errors") or [])
    lines.append("  cluster  valid=%s recovered=%s crashes=%d nemesis-errors=%d" % (
        cl["valid"], cl["recovered_after_heal"], len(cl["crashes"]),
        len(cl.get("nemesis_errors") or [])))
    for ev in (cl.get("nemesis_errors") or [])[:5]:
        lines.append("      %s" % json.dumps(ev, default=str)[:400])
    head = "%s: %d operations, %d faults, %d violations" % (
        "VALID" if verdict["valid"] is True else
        "UNKNOWN" if verdict["valid"] == "unknown" else "INVALID", len(ops), faults, nviol)
    verdict["counts"] = {"operations": len(ops), "faults": faults, "violations": nviol}
    return "\n".join([head] + lines)


def run_inside(args):
    """The run itself (already inside its namespace, or on plain loopback)."""
    import faulthandler
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: where is it stuck?
    in_netns = args.inside not in (None, "-")
    if in_netns:
        netns.inside_setup()
    run_dir = args.run_dir
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "params.json"), "w") as f:
        json.dump({k: v for k, v in vars(args).items()}, f, indent=1, default=str)
    run = Run(args, run_dir, in_netns)
    verdict = None
    code = 2
    try:
        verdict = run.execute()
        vals = [v["valid"] for v in verdict["workloads"].values()] + [verdict["cluster"]["valid"]]
        verdict["valid"] = (False if False in vals else "unknown" if "unknown" in vals else True)
        code = {True: 0, False: 1, "unknown": 3}[verdict["valid"]]
    except Exception as exc:
        import traceback
        traceback.print_exc()
        verdict = {"valid": False, "harness_error": repr(exc), "workloads": {},
                   "cluster": {"valid": False, "recovered_after_heal": False, "crashes": run.crashes}}
        code = 2
    finally:
        run._stop.set()
        if run.cluster is not None:
            shutdown_errors = []
            for n in run.cluster.nodes.values():
                try:
                    if n.running():
                        n.resume()
                        n.stop(timeout=20)
                except Exception as exc:
                    shutdown_errors.append(str(exc))
            for n in run.cluster.nodes.values():
                if n.running():
                    n.kill()
            if shutdown_errors:  # a node that fails to stop cleanly is a bug too
                verdict.setdefault("shutdown_errors", shutdown_errors)
                verdict["valid"] = False
                code = 1 if code in (0, 3) else code
    text = summarize(args, verdict, run) if verdict.get("workloads") is not None else str(verdict)
    if verdict.get("shutdown_errors"):
        text += "\n  shutdown: " + "; ".join(verdict["shutdown_errors"])
    run.history.write_jsonl(os.path.join(run_dir, "history.jsonl"))
    with open(os.path.join(run_dir, "nemesis.jsonl"), "w") as f:
        for ev in run.timeline:
            f.write(json.dumps(ev, default=str) + "\n")
    verdict["params"] = {"workload": args.workload, "nemesis": args.nemesis,
                         "time": args.time, "nodes": args.nodes, "seed": args.seed,
                         "netns": in_netns, "unsafe_ack": args.unsafe_ack,
                         "local_read_grace": run.local_read_grace}
    verdict["faults"] = run.faults
    with open(os.path.join(run_dir, "verdict.json"), "w") as f:
        json.dump(verdict, f, indent=1, default=str)
    png, why = plot.plot(run.history.ops, run.faults, os.path.join(run_dir, "latency.png"),
                         "%s / %s, %d nodes, seed %s" % (",".join(args.workload),
                                                         ",".join(args.nemesis), args.nodes,
                                                         args.seed))
    if png is None:
        text += "\n  (no plot: %s)" % why
    text += "\n  results: %s" % run_dir
    with open(os.path.join(run_dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    print(text, flush=True)
    if code == 0 and run.cluster is not None:  # keep logs, drop data of good runs
        for n in run.cluster.nodes.values():
            shutil.rmtree(n.data, ignore_errors=True)
    return code


# --- the outer command ---------------------------------------------------------------

def parse(argv):
    p = argparse.ArgumentParser(
        prog="cluster-tests/run",
        description="Jepsen-style fault testing of certraft: workloads under nemeses, "
                    "every operation recorded and checked.")
    p.add_argument("--workload", default="set",
                   help="set, register, auth, or several comma-separated (run together); "
                        "'all' = set,register,auth")
    p.add_argument("--nemesis", default="partition-halves",
                   help="one of %s, 'none', or several comma-separated (taking turns); "
                        "'partition' = partition-halves" % ", ".join(ALL_NEMESES))
    p.add_argument("--all", action="store_true",
                   help="run every workload x nemesis pair (each its own run)")
    p.add_argument("--combined", action="store_true",
                   help="with --all: one run per nemesis with all workloads at once")
    p.add_argument("--time", type=float, default=60, help="seconds of workload per run")
    p.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    p.add_argument("--seed", type=int, default=None, help="makes the schedule reproducible")
    p.add_argument("--results", default=None, help="results folder (default build/jepsen-results)")
    p.add_argument("--no-netns", action="store_true", help="plain loopback even as root")
    p.add_argument("--unsafe-ack", action="store_true",
                   help="start nodes with --unsafe-ack-before-commit (a broken node, "
                        "to show the checkers catch lost writes)")
    p.add_argument("--election-timeout", type=int, default=1000)
    p.add_argument("--snapshot-threshold", type=int, default=128)
    p.add_argument("--tuning", action="append", default=[],
                   help="extra certnode flag (repeatable), e.g. --tuning=--heartbeat-timeout=50")
    p.add_argument("--fault-min", type=float, default=4.0)
    p.add_argument("--fault-max", type=float, default=8.0)
    p.add_argument("--quiet-min", type=float, default=4.0)
    p.add_argument("--quiet-max", type=float, default=7.0)
    p.add_argument("--checker-time-limit", type=float, default=120.0)
    p.add_argument("--local-read-grace", type=float, default=None,
                   help="seconds after an acknowledged delete during which a local "
                        "(non-linearizable) read may still let the certificate in "
                        "(default 4.5 election timeouts: the server's StaleAfterMs of "
                        "3 election timeouts plus one to notice the lost leader)")
    p.add_argument("--inside", default=None, help=argparse.SUPPRESS)
    p.add_argument("--run-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time()) % 100000
    args.tuning = [t for arg in args.tuning for t in arg.split("=", 1)] if args.tuning else []
    return args


def expand(value, universe, aliases):
    out = []
    for v in value.split(","):
        v = v.strip()
        out += aliases.get(v, [v])
    bad = [v for v in out if v not in universe]
    if bad:
        raise SystemExit("unknown: %s (choose from %s)" % (", ".join(bad), ", ".join(universe)))
    return out


def plan(args):
    """The runs to make: [(workloads, nemeses)]."""
    wl_all = list(WORKLOADS)
    if args.all:
        if args.combined:
            return [(wl_all, [n]) for n in ALL_NEMESES]
        return [([w], [n]) for n in ALL_NEMESES for w in wl_all]
    wls = expand(args.workload, wl_all, {"all": wl_all})
    nems = expand(args.nemesis, list(ALL_NEMESES) + ["none"],
                  {"partition": ["partition-halves"], "all": list(ALL_NEMESES)})
    return [(wls, nems)]


def child_argv(args, wls, nems, run_dir, inside):
    argv = [sys.executable, os.path.join(os.path.dirname(HERE), "run"),
            "--workload", ",".join(wls), "--nemesis", ",".join(nems),
            "--time", str(args.time), "--nodes", str(args.nodes), "--seed", str(args.seed),
            "--election-timeout", str(args.election_timeout),
            "--snapshot-threshold", str(args.snapshot_threshold),
            "--fault-min", str(args.fault_min), "--fault-max", str(args.fault_max),
            "--quiet-min", str(args.quiet_min), "--quiet-max", str(args.quiet_max),
            "--checker-time-limit", str(args.checker_time_limit),
            "--local-read-grace", str(args.local_read_grace if args.local_read_grace is not None
                                      else 4.5 * args.election_timeout / 1000.0),
            "--inside", inside, "--run-dir", run_dir]
    if args.unsafe_ack:
        argv.append("--unsafe-ack")
    for t in args.tuning:
        argv.append("--tuning=" + t)
    return argv


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.inside is not None:
        args.workload = args.workload.split(",")
        args.nemesis = args.nemesis.split(",")
        return run_inside(args)
    ok, why = (False, "--no-netns") if args.no_netns else netns.can_make_namespace()
    if not ok:
        print("NOTE: no network namespace (%s): plain loopback; partition nemeses "
              "are unavailable, kill/pause/membership/clock faults only" % why, flush=True)
    results = os.path.abspath(args.results or default_results())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = plan(args)
    summary = []
    worst = 0
    for wls, nems in runs:
        name = "%s-%s-%s-n%d-s%d" % (stamp, "+".join(wls), "+".join(nems), args.nodes, args.seed)
        run_dir = os.path.join(results, name)
        unavailable = [n for n in nems if n != "none" and
                       ((NEMESES[n].needs_netns and not ok) or
                        (NEMESES[n].needs_faketime and not faketime_library()))]
        if unavailable:
            print("SKIP %s / %s: needs %s" % (",".join(wls), ",".join(nems),
                  "a network namespace" if not ok else "libfaketime (faketime)"), flush=True)
            summary.append({"workloads": wls, "nemeses": nems, "skipped": True})
            if not args.all:
                worst = max(worst, 2)  # asked for it by name: it did not run
            continue
        print("=== %s / %s (%d nodes, %ss, seed %d)" % (",".join(wls), ",".join(nems),
              args.nodes, args.time, args.seed), flush=True)
        code = run_child(args, wls, nems, run_dir, ok)
        verdict = {}
        try:
            with open(os.path.join(run_dir, "verdict.json")) as f:
                verdict = json.load(f)
        except (OSError, ValueError):
            pass
        summary.append({"workloads": wls, "nemeses": nems, "exit": code,
                        "dir": run_dir, "counts": verdict.get("counts"),
                        "valid": verdict.get("valid")})
        worst = 1 if 1 in (worst, code) else max(worst, code)
    if len(runs) > 1:
        os.makedirs(results, exist_ok=True)
        path = os.path.join(results, "%s-summary.json" % stamp)
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)
        print("\n%-22s %-18s %6s %7s %7s %11s" % ("workloads", "nemesis", "exit", "ops",
                                                  "faults", "violations"))
        for s in summary:
            c = s.get("counts") or {}
            print("%-22s %-18s %6s %7s %7s %11s" % (
                "+".join(s["workloads"]), "+".join(s["nemeses"]),
                "skip" if s.get("skipped") else s["exit"], c.get("operations", "-"),
                c.get("faults", "-"), c.get("violations", "-")))
        print("summary: %s" % path)
    return worst


def run_child(args, wls, nems, run_dir, use_netns):
    """One run in a child process: inside a fresh namespace when we can."""
    os.makedirs(run_dir, exist_ok=True)
    if not use_netns:
        return subprocess.call(child_argv(args, wls, nems, run_dir, "-"))
    ns = "certraft-jepsen-%d-%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
    netns.create(ns)
    proc = None
    try:
        proc = subprocess.Popen(netns.exec_prefix(ns) + child_argv(args, wls, nems, run_dir, ns))
        return proc.wait()
    except KeyboardInterrupt:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    finally:
        # Whatever the run left behind in its namespace (only our processes
        # live there) goes, then the namespace.
        for pid in netns.pids(ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        netns.delete(ns)
