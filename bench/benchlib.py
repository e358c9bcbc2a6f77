"""benchlib - what the certraft benchmarks share: the C load generator, the
certificate template, a 3-member etcd cluster with client-certificate
auth, process CPU/RSS sampling and table printing.

Binaries come from $CERTRAFT_BUILD (default ./build): certnode and certctl
under node/, loadgen, cryptorate and scale under bench/.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request  # noqa: F401  (kept: callers may poll with it)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "cluster-tests"))

from certraft_cluster import (Cluster, free_ports, openssl,  # noqa: E402,F401
                              wait_until)

MARKER = bytes(range(0x11, 0x11 + 16))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def build_dir():
    return os.environ.get("CERTRAFT_BUILD", os.path.join(ROOT, "build"))


def bench_binary(name):
    env = os.environ.get(name.upper())
    if env:
        return env
    return os.path.join(build_dir(), "bench", name)


def machine_note():
    load = os.getloadavg()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ver = subprocess.run(["openssl", "version"], capture_output=True,
                         text=True).stdout.strip()
    return ("%d cores (%s), load avg %.1f/%.1f/%.1f at start, %s"
            % (os.cpu_count(), model, load[0], load[1], load[2], ver))


# --- certificates -----------------------------------------------------------

def make_template(directory, size=2048, key_type="ec"):
    """A self-signed certificate (DER) of about @size bytes whose serial is
    the 16-byte marker 11 12 .. 20, so loadgen can stamp a counter into it.
    The size comes from a subjectAltName of padding DNS names."""
    key = os.path.join(directory, "tmpl.key")
    if not os.path.exists(key):
        if key_type == "ec":
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout",
                    "-out", key)
        else:
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key)

    def build(names):
        args = ["req", "-x509", "-key", key, "-days", "3650", "-subj",
                "/CN=bench-template", "-set_serial", "0x" + MARKER.hex(),
                "-outform", "DER"]
        if names:
            args += ["-addext", "subjectAltName=" +
                     ",".join("DNS:" + n for n in names)]
        return openssl(*args)

    der = build([])
    if len(der) >= size:
        return der
    names = []
    # ~62 bytes per name of 58 characters
    while len(der) + 64 <= size:
        names.append("p%02d" % len(names) + "x" * 55 + ".bench")
        der = build(names)
    short = size - len(der)
    if short > 8:
        names.append("q" * (short - 6))
        der = build(names)
        # DER length fields may have grown by a byte or two: trim to fit
        while len(der) > size and len(names[-1]) > 1:
            names[-1] = names[-1][:-(len(der) - size)] or "q"
            der = build(names)
    return der


def write_template(directory, size=2048):
    path = os.path.join(directory, "template-%d.der" % size)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(make_template(directory, size))
    return path


# --- the load generator -----------------------------------------------------

def loadgen(port, host="127.0.0.1", cacert=None, cert=None, key=None,
            conns=1, seconds=5.0, warmup=0.5, requests=0, gen=None,
            template=None, seq_start=0, method=None, path=None, body=None,
            expect=None, new_conn=False, resume=False, threads=1,
            name=None, timeout=None):
    """Run bench/loadgen once; returns its JSON result as a dict."""
    args = [bench_binary("loadgen"), "--host", host, "--port", str(port),
            "--conns", str(conns), "--threads", str(threads)]
    if requests:
        args += ["--requests", str(requests), "--warmup", "0"]
    else:
        args += ["--seconds", str(seconds), "--warmup", str(warmup)]
    for flag, val in (("--cacert", cacert), ("--cert", cert), ("--key", key),
                      ("--gen", gen), ("--template", template),
                      ("--method", method), ("--path", path),
                      ("--body", body), ("--expect", expect),
                      ("--name", name)):
        if val is not None:
            args += [flag, str(val)]
    if seq_start:
        args += ["--seq-start", str(seq_start)]
    if new_conn:
        args.append("--new-conn")
    if resume:
        args.append("--resume")
    r = subprocess.run(args, capture_output=True, text=True,
                       timeout=timeout or (seconds + warmup + 120
                                           if not requests else 3600))
    if r.returncode != 0:
        raise RuntimeError("loadgen failed (%d): %s" % (r.returncode, r.stderr))
    res = json.loads(r.stdout)
    if res.get("first_error"):
        sys.stderr.write("loadgen: first error: %s\n" % res["first_error"][:300])
    return res


# --- processes ----------------------------------------------------------------

def proc_cpu_seconds(pid):
    """utime+stime of @pid (its threads included) and of its children
    that ended (certnode's snapshot encoders), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class CpuMeter:
    """CPU seconds used by a set of pids between start() and stop()."""

    def __init__(self, pids):
        self.pids = list(pids)

    def __enter__(self):
        self.t0 = time.monotonic()
        self.c0 = sum(proc_cpu_seconds(p) for p in self.pids)
        return self

    def __exit__(self, *exc):
        self.cpu = sum(proc_cpu_seconds(p) for p in self.pids) - self.c0
        self.wall = time.monotonic() - self.t0


def machine_cpu_ticks():
    """(busy, total) jiffies of every CPU from /proc/stat: busy counts
    user, system, interrupts and steal, so kernel threads (the journal,
    softirq for loopback TCP) are in it, which per-process times miss."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    total = sum(v[:8])  # guest time is already in user
    return total - idle, total


class MachineMeter:
    """Fraction of all CPUs busy while the block runs (0..1)."""

    def __enter__(self):
        self.b0, self.t0 = machine_cpu_ticks()
        return self

    def __exit__(self, *exc):
        b, t = machine_cpu_ticks()
        self.busy = (b - self.b0) / max(t - self.t0, 1)


def wait_quiet(busy_below=0.15, window=0.5, timeout=15.0):
    """Waits until the machine was less than @busy_below busy over a
    @window, so that what the previous level left running (a snapshot
    being written, etcd's backend commits) is not billed to the next
    one. Gives up after @timeout (returns False) rather than hang on a
    shared machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with MachineMeter() as mm:
            time.sleep(window)
        if mm.busy < busy_below:
            return True
    return False


# --- etcd -----------------------------------------------------------------------

class EtcdCluster:
    """A 3-member etcd cluster on loopback, client and peer TLS with
    client-certificate auth, started from a temp dir with etcd's defaults
    (fsync of every WAL write). Keys: P-256, like certraft's."""

    def __init__(self, size=3, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="etcd-bench-")
        self.size = size
        self.procs = []
        ports = free_ports(2 * size)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size:]

    def _certs(self):
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", d + "/ca.key", "-out",
                d + "/ca.crt", "-days", "30", "-subj", "/CN=etcd-bench-ca",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for name, ext in (
                ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                           "extendedKeyUsage=serverAuth,clientAuth\n"),
                ("client", "extendedKeyUsage=clientAuth\n")):
            openssl("req", "-new", *ec, "-keyout", "%s/%s.key" % (d, name),
                    "-out", "%s/%s.csr" % (d, name), "-subj", "/CN=" + name)
            with open("%s/%s.ext" % (d, name), "w") as f:
                f.write(ext)
            openssl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA",
                    d + "/ca.crt", "-CAkey", d + "/ca.key", "-CAcreateserial",
                    "-days", "30", "-out", "%s/%s.crt" % (d, name),
                    "-extfile", "%s/%s.ext" % (d, name))
        self.cacert = d + "/ca.crt"
        self.client_cert = d + "/client.crt"
        self.client_key = d + "/client.key"

    def start(self):
        if shutil.which("etcd") is None:
            raise RuntimeError("etcd is not installed (apt-get install "
                               "etcd-server)")
        self._certs()
        d = self.dir
        initial = ",".join("m%d=https://127.0.0.1:%d" % (i + 1, p)
                           for i, p in enumerate(self.peer_ports))
        for i in range(self.size):
            name = "m%d" % (i + 1)
            args = [
                "etcd", "--name", name, "--data-dir", "%s/%s.etcd" % (d, name),
                "--listen-client-urls",
                "https://127.0.0.1:%d" % self.client_ports[i],
                "--advertise-client-urls",
                "https://127.0.0.1:%d" % self.client_ports[i],
                "--listen-peer-urls",
                "https://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-advertise-peer-urls",
                "https://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-cluster", initial,
                "--initial-cluster-token", "bench",
                "--initial-cluster-state", "new",
                "--client-cert-auth", "--trusted-ca-file", d + "/ca.crt",
                "--cert-file", d + "/server.crt", "--key-file", d + "/server.key",
                "--peer-client-cert-auth", "--peer-trusted-ca-file",
                d + "/ca.crt", "--peer-cert-file", d + "/server.crt",
                "--peer-key-file", d + "/server.key",
                "--log-level", "error", "--logger", "zap",
            ]
            log = open("%s/%s.log" % (d, name), "ab")
            self.procs.append(subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
            log.close()
        wait_until("etcd to elect a leader", self.leader_index, timeout=60)
        return self

    def _status(self, i):
        """POST /v3/maintenance/status on member i via loadgen-free ssl."""
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.cacert)
        ctx.check_hostname = False
        ctx.load_cert_chain(self.client_cert, self.client_key)
        conn = http.client.HTTPSConnection("127.0.0.1", self.client_ports[i],
                                           context=ctx, timeout=5)
        try:
            conn.request("POST", "/v3/maintenance/status", body="{}",
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return json.loads(r.read() or b"{}") if r.status == 200 else None
        finally:
            conn.close()

    def leader_index(self):
        for i in range(self.size):
            try:
                st = self._status(i)
            except OSError:
                continue
            if st and st.get("leader") and st.get("header", {}).get(
                    "member_id") == st["leader"]:
                return i + 1  # 1-based, truthy
        return None

    def request(self, i, path, body):
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.cacert)
        ctx.check_hostname = False
        ctx.load_cert_chain(self.client_cert, self.client_key)
        conn = http.client.HTTPSConnection("127.0.0.1", self.client_ports[i],
                                           context=ctx, timeout=10)
        try:
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


# --- output ---------------------------------------------------------------------

def print_table(headers, rows, out=sys.stdout):
    """A Markdown table (pastes into bench/README.md as is)."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out.write(line(cells[0]) + "\n")
    out.write("| " + " | ".join("-" * (w - 1) + ":" for w in widths) + " |\n")
    for r in cells[1:]:
        out.write(line(r) + "\n")
    out.flush()


def fmt(v):
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 100:
            return "%.0f" % v
        if abs(v) >= 10:
            return "%.1f" % v
        return "%.2f" % v
    return str(v)


def stamp(template, n):
    """Certificate number @n of a template's series (the serial marker
    replaced by a counter), as loadgen and scale do."""
    at = template.index(MARKER)
    serial = bytes([0x11]) + bytes(7) + n.to_bytes(8, "big")
    return template[:at] + serial + template[at + 16:]
