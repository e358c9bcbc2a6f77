#!/usr/bin/env python3
"""`make demo`: a local 3-node certraft cluster with a ready admin
certificate, left running in the background, and how to use it.

  python3 cluster-tests/demo.py start [--build DIR] [--dir DIR]
  python3 cluster-tests/demo.py stop  [--dir DIR]
"""

import argparse
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from certraft_cluster import Cluster  # noqa: E402

RAFT_PORTS = [7001, 7002, 7003]
API_PORTS = [8001, 8002, 8003]


def pids_file(d):
    return os.path.join(d, "pids")


def stop(d):
    path = pids_file(d)
    if not os.path.exists(path):
        print("no demo cluster is running from %s" % d)
        return 0
    with open(path) as f:
        for line in f:
            try:
                os.kill(int(line), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    os.unlink(path)
    print("stopped the demo cluster in %s" % d)
    return 0


def start(d, build):
    if os.path.exists(pids_file(d)):
        stop(d)
    if os.path.exists(d):
        import shutil
        shutil.rmtree(d)
    os.environ["CERTRAFT_BUILD"] = os.path.abspath(build)
    ports = [p for pair in zip(RAFT_PORTS, API_PORTS) for p in pair]
    c = Cluster(3, directory=d, ports=ports, keep=True, detach=True)
    try:
        c.start()
    except BaseException:
        c.dump_logs()
        c.destroy()
        raise
    with open(pids_file(d), "w") as f:
        for n in c.nodes.values():
            f.write("%d\n" % n.proc.pid)
    certctl = os.path.join(os.path.abspath(build), "node", "certctl")
    urls = ",".join(n.url for n in c.nodes.values())
    a = c.admin_dir
    print("""
certraft demo cluster is running: 3 nodes, leader node %(leader)d.
  data and logs: %(dir)s
  admin certificate (ClusterAdmin): %(a)s/admin.crt + admin.key (or admin.pfx)

Use it with certctl:
  export CERTCTL_URL=%(urls)s
  export CERTCTL_CERT=%(a)s/admin.crt CERTCTL_KEY=%(a)s/admin.key
  export CERTCTL_CACERT=%(a)s/cluster-ca.crt
  %(certctl)s cluster status
  %(certctl)s certs list
  %(certctl)s certs whoami

or with curl:
  curl --cacert %(a)s/cluster-ca.crt --cert %(a)s/admin.crt --key %(a)s/admin.key \\
       https://127.0.0.1:8001/certificates/whoami
  curl --cacert %(a)s/cluster-ca.crt --cert %(a)s/admin.crt --key %(a)s/admin.key \\
       https://127.0.0.1:8002/cluster/topology

Stop it with: make demo-stop
""" % {"leader": c.leader().id, "dir": d, "a": a, "urls": urls,
       "certctl": certctl})
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(HERE), "demo-cluster"))
    args = ap.parse_args()
    d = os.path.abspath(args.dir)
    return start(d, args.build) if args.action == "start" else stop(d)


if __name__ == "__main__":
    sys.exit(main())
