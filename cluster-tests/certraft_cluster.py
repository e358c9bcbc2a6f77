"""certraft_cluster - start and drive clusters of real certnode processes.

Used by every cluster test, by the Jepsen-style harness and by `make demo`.
Only the Python standard library and the openssl CLI are needed: requests
go over http.client with an ssl context that presents a client certificate.

A Cluster lives in a temporary directory: one data directory per node, the
admin certificate written by `certnode init`, and each node's log file.
Nothing here sleeps blindly: every wait polls a condition with a deadline.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def binary(name):
    """Path of certnode/certctl: $CERTNODE/$CERTCTL, else ./build/node/."""
    env = os.environ.get(name.upper())
    if env:
        return env
    build = os.environ.get("CERTRAFT_BUILD", os.path.join(ROOT, "build"))
    return os.path.join(build, "node", name)


def free_ports(n, host="127.0.0.1"):
    """n distinct TCP ports that were free a moment ago."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_until(what, cond, timeout=30.0, interval=0.05):
    """Poll cond() until it returns a truthy value; fail with `what`."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # a node may be restarting: keep polling
            last_exc = exc
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s%s" % (
        timeout, what, " (last error: %r)" % last_exc if last_exc else ""))


def openssl(*args, input=None):
    return subprocess.run(["openssl"] + list(args), input=input, check=True,
                          capture_output=True).stdout


def make_self_signed(directory, name, days=30, key_type="ec"):
    """A throwaway certificate + key (PEM files) made with the openssl CLI."""
    crt = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    if key_type == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        newkey = ["-newkey", "rsa:2048"]
    openssl("req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", crt,
            "-days", str(days), "-subj", "/CN=" + name)
    return crt, key


def der_of_pem_file(path):
    return openssl("x509", "-in", path, "-outform", "DER")


def thumbprint_of(path):
    return hashlib.sha256(der_of_pem_file(path)).hexdigest().upper()


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body.decode() or "null")

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class Client:
    """HTTPS client presenting one client certificate (or none)."""

    def __init__(self, cacert, cert=None, key=None, timeout=15.0):
        ctx = ssl.create_default_context(cafile=cacert)
        ctx.check_hostname = False  # the CA is pinned; nodes share one cert
        if cert:
            ctx.load_cert_chain(cert, key)
        self.ctx = ctx
        self.timeout = timeout

    def request(self, url, method, path, body=None, headers=None):
        host, port = url.replace("https://", "").rstrip("/").split(":")
        conn = http.client.HTTPSConnection(host, int(port), context=self.ctx,
                                           timeout=self.timeout)
        try:
            data = None
            hdrs = dict(headers or {})
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.read(), dict(resp.getheaders()))
        finally:
            conn.close()


class Node:
    def __init__(self, cluster, node_id, raft_port, api_port):
        self.cluster = cluster
        self.id = node_id
        self.raft_address = "127.0.0.1:%d" % raft_port
        self.api_address = "127.0.0.1:%d" % api_port
        self.url = "https://" + self.api_address
        self.data = os.path.join(cluster.dir, "node%d" % node_id)
        self.log_path = os.path.join(cluster.dir, "node%d.log" % node_id)
        self.proc = None

    def _spawn(self, args, capture_stdout=False):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE if capture_stdout else log,
            stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=self.cluster.detach)
        log.close()

    def start(self):
        args = [binary("certnode"), "run", "--data", self.data]
        args += self.cluster.tuning
        self._spawn(args)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9: no chance to flush anything."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=20):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("node %d did not stop on SIGTERM" % self.id)
            if self.proc.returncode != 0:
                raise AssertionError("node %d exited with %d; see %s" % (
                    self.id, self.proc.returncode, self.log_path))

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def topology(self, client=None):
        r = (client or self.cluster.admin).request(self.url, "GET", "/cluster/topology")
        if r.status != 200:
            raise AssertionError("topology on node %d: %r" % (self.id, r))
        return r.json()

    def ready(self):
        """Knows a leader and serves requests (caught up with the log)."""
        try:
            topo = self.topology()
            return topo["Leader"] is not None and topo.get("Serving", True)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False


class Cluster:
    """A cluster of `size` certnode processes on loopback."""

    def __init__(self, size=3, tuning=None, keep=False, directory=None,
                 ports=None, detach=False):
        self.dir = directory or tempfile.mkdtemp(prefix="certraft-")
        os.makedirs(self.dir, exist_ok=True)
        self.size = size
        self.tuning = list(tuning or [])
        self.keep = keep or os.environ.get("CERTRAFT_KEEP") == "1"
        self.detach = detach  # nodes outlive this process (make demo)
        self.nodes = {}
        ports = ports or free_ports(2 * size)
        for i in range(size):
            n = Node(self, i + 1, ports[2 * i], ports[2 * i + 1])
            self.nodes[n.id] = n
        self.admin_dir = os.path.join(self.dir, "admin")
        self.cacert = os.path.join(self.admin_dir, "cluster-ca.crt")
        self.admin_cert = os.path.join(self.admin_dir, "admin.crt")
        self.admin_key = os.path.join(self.admin_dir, "admin.key")
        self.admin = None

    # --- life cycle -------------------------------------------------------

    def start(self):
        first = self.nodes[1]
        p = subprocess.run([binary("certnode"), "init", "--data", first.data,
                            "--id", "1", "--raft-address", first.raft_address,
                            "--api-address", first.api_address,
                            "--admin-out", self.admin_dir] + self.tuning,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("certnode init failed (%d): %s%s" % (
                p.returncode, p.stdout, p.stderr))
        self.admin = self.client(self.admin_cert, self.admin_key)
        first.start()
        wait_until("node 1 to lead", first.ready)
        for node_id in range(2, self.size + 1):
            self.join(self.nodes[node_id])
        return self

    def join(self, node):
        """Add `node` the way an operator does: certnode join + add-node."""
        args = [binary("certnode"), "join", "--data", node.data,
                "--id", str(node.id), "--raft-address", node.raft_address,
                "--api-address", node.api_address, "--cluster",
                ",".join(n.url for n in self.nodes.values() if n.running()),
                "--cacert", self.cacert] + self.tuning
        node._spawn(args, capture_stdout=True)
        line = wait_until("node %d to print its join thumbprint" % node.id,
                          lambda: self._join_line(node), timeout=30)
        thumb = line.split("--thumbprint")[1].split()[0]
        r = self.request_leader("PUT", "/admin/cluster/node", {
            "Id": node.id, "RaftAddress": node.raft_address,
            "ApiUrl": node.url, "JoinThumbprint": thumb})
        if r.status != 202:
            raise AssertionError("add-node %d: %r" % (node.id, r))
        wait_until("node %d to become a voter" % node.id,
                   lambda: self.is_voter(node.id), timeout=60)

    def _join_line(self, node):
        line = node.proc.stdout.readline().decode()
        if node.proc.poll() is not None and not line:
            raise AssertionError("certnode join %d exited: %s" % (node.id, node.log()))
        return line if "--thumbprint" in line else None

    def is_voter(self, node_id):
        topo = self.leader().topology()
        return any(n["Id"] == node_id and n["Role"] == "Voter" for n in topo["Nodes"])

    def stop(self):
        errors = []
        for n in self.nodes.values():
            try:
                n.stop()
            except AssertionError as exc:
                errors.append(str(exc))
        if errors:
            raise AssertionError("; ".join(errors))

    def destroy(self):
        for n in self.nodes.values():
            if n.running():
                n.kill()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.dump_logs()
            self.destroy()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
        finally:
            if exc_type is not None:
                self.dump_logs()
            self.destroy()

    def dump_logs(self):
        for n in self.nodes.values():
            if os.path.exists(n.log_path):
                sys.stderr.write("---- node %d log ----\n%s\n" % (n.id, n.log()[-4000:]))

    # --- clients ----------------------------------------------------------

    def client(self, cert=None, key=None):
        return Client(self.cacert, cert, key)

    def running_nodes(self):
        return [n for n in self.nodes.values() if n.running()]

    def leader(self, timeout=30):
        """The node that says it leads (and is running)."""
        def find():
            for n in self.running_nodes():
                try:
                    topo = n.topology()
                except Exception:
                    continue
                if topo["State"] == "Leader":
                    return n
            return None
        return wait_until("a leader", find, timeout=timeout)

    def followers(self):
        lead = self.leader()
        return [n for n in self.running_nodes() if n.id != lead.id]

    def request_leader(self, method, path, body=None, client=None):
        return (client or self.admin).request(self.leader().url, method, path, body)

    def certctl(self, *args, cert=None, key=None, urls=None, timeout=180):
        """Run certctl as an operator would, with the environment set.
        Returns the CompletedProcess (text mode)."""
        env = dict(os.environ)
        env.update({
            "CERTCTL_URL": ",".join(urls or [n.url for n in self.nodes.values()]),
            "CERTCTL_CERT": cert or self.admin_cert,
            "CERTCTL_KEY": key or self.admin_key,
            "CERTCTL_CACERT": self.cacert,
        })
        return subprocess.run([binary("certctl")] + list(args), env=env,
                              capture_output=True, text=True, timeout=timeout)

    # --- certificates -----------------------------------------------------

    def new_cert(self, name, **kw):
        return make_self_signed(self.dir, name, **kw)

    def upload_body(self, name, crt_path, clearance="ValidUser", permissions=None):
        with open(crt_path, "rb") as f:
            blob = f.read()
        return {"Name": name, "Certificate": base64.b64encode(blob).decode(),
                "SecurityClearance": clearance, "Permissions": permissions or {}}

    def thumbprints_on(self, node):
        r = self.admin.request(node.url, "GET", "/admin/certificates?secondary=true")
        if r.status != 200:
            raise AssertionError("list on node %d: %r" % (node.id, r))
        return sorted(e["Thumbprint"] for e in r.json()["Results"])

    def registries_agree(self, nodes=None):
        views = [self.thumbprints_on(n) for n in (nodes or self.running_nodes())]
        return views[0] if all(v == views[0] for v in views) else None


def run_tests(tests, cluster=None):
    """Run test functions and print 'N passed, N failed'. Returns the exit
    code; on failure the cluster's logs (if given) are printed."""
    passed = failed = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        start = time.monotonic()
        try:
            t()
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as exc:  # report and go on to the next test
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, exc), flush=True)
    if failed and cluster is not None:
        cluster.dump_logs()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
