"""The CI smoke: short runs of cluster-tests/run, one per nemesis, each
checked for a clean verdict and for not being vacuous (operations were
acknowledged, faults were injected, deletes were probed).

Each test_jepsen_smoke_*.py names its nemeses; the seed is fixed so that
a failure in CI replays with the command it prints.
"""

import json
import os
import subprocess
import sys

from certraft_cluster import ROOT, run_tests

from . import netns
from .db import faketime_library
from .nemesis import NEMESES

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_TIME = float(os.environ.get("CERTRAFT_JEPSEN_SMOKE_TIME", "30"))


def results_root():
    build = os.environ.get("CERTRAFT_BUILD", os.path.join(ROOT, "build"))
    return os.path.join(build, "jepsen-results", "smoke")


def run_cli(args, timeout):
    cmd = [sys.executable, os.path.join(HERE, "run")] + args
    print("  $ %s" % " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    return proc.returncode, out


def last_verdict(out):
    """The verdict.json of the run whose folder the output names."""
    for line in reversed(out.splitlines()):
        if line.strip().startswith("results: "):
            path = os.path.join(line.split("results: ", 1)[1].strip(), "verdict.json")
            with open(path) as f:
                return json.load(f), os.path.dirname(path)
    raise AssertionError("the run printed no results folder:\n" + out[-3000:])


def unavailable(nemesis):
    ok, why = netns.can_make_namespace()
    if NEMESES[nemesis].needs_netns and not ok:
        return why
    if NEMESES[nemesis].needs_faketime and not faketime_library():
        return "libfaketime is not installed"
    return None


def make_test(nemesis, seed, workloads="all", nodes=3):
    def test():
        why = unavailable(nemesis)
        if why:
            print("  SKIP %s: %s" % (nemesis, why), flush=True)
            return
        code, out = run_cli(["--workload", workloads, "--nemesis", nemesis,
                             "--time", str(SMOKE_TIME), "--nodes", str(nodes),
                             "--seed", str(seed), "--results", results_root()],
                            timeout=SMOKE_TIME + 400)
        summary = [l for l in out.splitlines() if not l.startswith("[")]
        print("\n".join("  " + l for l in summary[-14:]), flush=True)
        assert code == 0, "exit %d; replay: cluster-tests/run --workload %s --nemesis %s " \
            "--time %s --seed %d\n%s" % (code, workloads, nemesis, SMOKE_TIME, seed, out[-6000:])
        v, _ = last_verdict(out)
        assert v["counts"]["faults"] >= 1, "no fault was injected: %r" % v["faults"]
        w = v["workloads"]
        if "set" in w:
            assert w["set"]["acknowledged"] >= 20, w["set"]
        if "register" in w:
            assert w["register"]["reads_ok"] >= 20 and w["register"]["writes_ok"] >= 20, \
                {k: x for k, x in w["register"].items() if k != "keys"}
        if "auth" in w:
            assert w["auth"]["probes_after_delete"] >= 10, w["auth"]
    test.__name__ = "test_%s_%s" % (nemesis.replace("-", "_"), workloads.replace(",", "_"))
    return test


def main(nemeses, seed=42):
    tests = [make_test(n, seed + i) for i, n in enumerate(nemeses)]
    return run_tests(tests)
