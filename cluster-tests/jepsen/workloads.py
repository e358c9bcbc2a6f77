"""Workloads: concurrent clients, each a thread on the namespace's loopback,
every request to a node picked at random (so all nodes serve clients), and
every operation recorded in the History with its outcome.

set       unique certificate uploads (PUT /admin/certificates) and deletes
          of acknowledged ones; after healing, the final registry of every
          node is read (local reads, once the nodes agree or time is up)
register  a few certificates whose Permissions are a register: writes
          (POST /admin/certificates/edit, each a unique value "w<n>") and
          linearizable reads (?consistency=linearizable)
auth      a certificate is uploaded (Operator), used, deleted by an
          administrator, then presented again to every node: whoami read
          locally, whoami linearizable, and a write (upload of a probe
          certificate); after the delete is acknowledged it must be refused
"""

import base64
import calendar
import hashlib
import http.client
import json
import os
import random
import ssl
import subprocess
import threading
import time

from . import checkers
from .history import FAIL, OK, UNKNOWN

REQUEST_TIMEOUT = 5.0


class Reply:
    def __init__(self, status=None, body=b"", sent=True, error=None):
        self.status, self.body, self.sent, self.error = status, body, sent, error

    def json(self):
        try:
            return json.loads(self.body.decode() or "null")
        except ValueError:
            return None

    def write_outcome(self):
        """ok / fail (certainly not applied) / unknown."""
        if self.status is None:
            return UNKNOWN if self.sent else FAIL
        if 200 <= self.status < 300:
            return OK
        if 400 <= self.status < 500:
            return FAIL
        return UNKNOWN

    def note(self):
        d = {"status": self.status}
        if self.error:
            d["error"] = self.error[:200]
        elif self.status is not None and self.status >= 300:
            j = self.json()
            if isinstance(j, dict) and "Error" in j:
                d["error"] = str(j["Error"])[:200]
        return d


def call(ctx, url, method, path, body=None, timeout=REQUEST_TIMEOUT):
    """One HTTPS request on a fresh connection. A failure to connect (or to
    finish the TLS handshake) means the request was never sent."""
    host, port = url.replace("https://", "").rstrip("/").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=timeout)
    try:
        try:
            conn.connect()
        except (OSError, ssl.SSLError) as exc:
            return Reply(None, b"", sent=False, error=repr(exc))
        try:
            data, hdrs = None, {}
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), True)
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return Reply(None, b"", sent=True, error=repr(exc))
    finally:
        conn.close()


def ssl_context(cacert, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=cacert)
    ctx.check_hostname = False  # the CA is pinned; nodes share one cert
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True,
                          capture_output=True).stdout


def cert_dates(pem_path):
    """(NotBefore, NotAfter) in Unix seconds."""
    out = openssl("x509", "-in", pem_path, "-noout", "-startdate", "-enddate").decode()
    vals = {}
    for line in out.splitlines():
        k, v = line.split("=", 1)
        vals[k] = calendar.timegm(time.strptime(v.replace(" GMT", "").strip(),
                                                "%b %d %H:%M:%S %Y"))
    return vals["notBefore"], vals["notAfter"]


def upload_body(name, blob, clearance="ValidUser", permissions=None):
    return {"Name": name, "Certificate": base64.b64encode(blob).decode(),
            "SecurityClearance": clearance, "Permissions": permissions or {}}


class Workload:
    name = "?"

    def __init__(self, run):
        self.run = run  # runner.Run: cluster, history, dir, seed, stop event
        self.home = {}  # client process -> index of its home node
        self.admin_ctx = ssl_context(run.cluster.cacert, run.cluster.admin_cert,
                                     run.cluster.admin_key)

    def urls(self):
        return [n.url for n in self.run.cluster.nodes.values()]

    def client_count(self, nodes):
        return nodes

    def target(self, process, rng):
        """The client's home node: as in Jepsen, each client is bound to
        one node (homes spread over all nodes), so clients bound to a node
        that is cut off keep talking to it while the others measure the
        majority. (Picking nodes at random would let every client in turn
        get stuck on the cut-off nodes' forwarded requests.)"""
        urls = self.urls()
        home = self.home.get(process)
        if home is not None:
            return urls[home % len(urls)]
        return rng.choice(urls)

    def setup(self):
        pass

    def client_loop(self, process, rng):
        raise NotImplementedError

    def final(self):
        pass

    def check(self):
        raise NotImplementedError

    def record(self, process, f, url, fn, outcome_of, **fields):
        """Invoke, run fn() -> Reply, complete with outcome_of(reply)."""
        h = self.run.history
        op = h.invoke(self.name, process, f, node=self.node_id(url), **fields)
        reply = fn()
        outcome, extra = outcome_of(reply)
        extra.update(reply.note())
        h.complete(op, outcome, **extra)
        if reply.status is None or reply.status >= 500:
            # A node that is down refuses at once: don't spin on it.
            time.sleep(0.05)
        return op, reply

    def node_id(self, url):
        for n in self.run.cluster.nodes.values():
            if n.url == url:
                return n.id
        return None


# --- set -----------------------------------------------------------------------

class SetWorkload(Workload):
    name = "set"
    PREFIX = "jepsen-set-"

    def setup(self):
        self.key_path = os.path.join(self.run.dir, "set-workload.key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", self.key_path)
        self.lock = threading.Lock()
        self.deletable = []  # acknowledged, not yet targeted by a delete
        self.final_views = {}

    def new_cert(self, name):
        return openssl("req", "-x509", "-key", self.key_path, "-subj", "/CN=" + name,
                       "-days", "30", "-outform", "DER")

    def client_loop(self, process, rng):
        n = 0
        while not self.run.stopping():
            url = self.target(process, rng)
            with self.lock:
                victim = None
                if self.deletable and rng.random() < 0.25:
                    victim = self.deletable.pop(rng.randrange(len(self.deletable)))
            if victim is None:
                n += 1
                name = "%s%d-%d" % (self.PREFIX, process, n)
                der = self.new_cert(name)
                thumb = hashlib.sha256(der).hexdigest().upper()
                body = upload_body(name, der)
                op, _ = self.record(
                    process, "add", url,
                    lambda: call(self.admin_ctx, url, "PUT", "/admin/certificates", body),
                    lambda r: (r.write_outcome(), {}), key=thumb, name=name)
                if op["outcome"] == OK:
                    with self.lock:
                        self.deletable.append(thumb)
            else:
                self.record(
                    process, "delete", url,
                    lambda: call(self.admin_ctx, url, "DELETE",
                                 "/admin/certificates?thumbprint=" + victim),
                    lambda r: (r.write_outcome(), {}), key=victim)

    def read_views(self):
        views = {}
        for n in self.run.cluster.nodes.values():
            r = call(self.admin_ctx, n.url, "GET", "/admin/certificates?secondary=true")
            j = r.json() if r.status == 200 else None
            if not isinstance(j, dict):
                views[n.id] = None
                continue
            views[n.id] = sorted(e["Thumbprint"] for e in j.get("Results", [])
                                 if str(e.get("Name", "")).startswith(self.PREFIX))
        return views

    def final(self):
        """Read every node once they agree (or when time is up)."""
        deadline = time.monotonic() + self.run.final_timeout
        views = self.read_views()
        while time.monotonic() < deadline:
            vals = list(views.values())
            if all(v is not None for v in vals) and all(v == vals[0] for v in vals):
                break
            time.sleep(0.5)
            views = self.read_views()
        self.final_views = views

    def check(self):
        return checkers.check_set(self.run.history.of(self.name), self.final_views)


# --- register --------------------------------------------------------------------

class RegisterWorkload(Workload):
    name = "register"
    KEYS = 3

    def setup(self):
        key = os.path.join(self.run.dir, "register-workload.key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", key)
        self.keys = []
        self.init = {}
        self.counter = 0
        self.lock = threading.Lock()
        for k in range(self.KEYS):
            name = "jepsen-register-%d" % k
            der = openssl("req", "-x509", "-key", key, "-subj", "/CN=" + name,
                          "-days", "30", "-outform", "DER")
            thumb = hashlib.sha256(der).hexdigest().upper()
            body = upload_body(name, der, permissions={"w0": "Read"})
            r = self.admin_until_ok("PUT", "/admin/certificates", body)
            self.keys.append(thumb)
            self.init[thumb] = 0

    def admin_until_ok(self, method, path, body=None, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for url in self.urls():
                last = call(self.admin_ctx, url, method, path, body)
                if last.status is not None and 200 <= last.status < 300:
                    return last
            time.sleep(0.2)
        raise RuntimeError("setup request %s %s never succeeded: %r" % (
            method, path, last.note() if last else None))

    @staticmethod
    def decode(permissions):
        vals = [int(k[1:]) for k in (permissions or {}) if k[:1] == "w" and k[1:].isdigit()]
        return vals[0] if len(vals) == 1 else ("garbage", sorted(permissions or {}))

    def client_loop(self, process, rng):
        while not self.run.stopping():
            url = self.target(process, rng)
            key = rng.choice(self.keys)
            if rng.random() < 0.5:
                with self.lock:
                    self.counter += 1
                    v = self.counter
                body = {"Thumbprint": key, "Permissions": {"w%d" % v: "Read"}}
                self.record(process, "write", url,
                            lambda: call(self.admin_ctx, url, "POST",
                                         "/admin/certificates/edit", body),
                            lambda r: (r.write_outcome(), {}), key=key, value=v)
            else:
                path = ("/admin/certificates?thumbprint=%s&consistency=linearizable" % key)

                def outcome(r):
                    if r.status == 200:
                        res = (r.json() or {}).get("Results") or [{}]
                        return OK, {"value": self.decode(res[0].get("Permissions"))}
                    if r.status == 404:
                        return OK, {"value": None}
                    return FAIL, {"value": None}
                self.record(process, "read", url,
                            lambda: call(self.admin_ctx, url, "GET", path),
                            outcome, key=key)

    def check(self):
        ops = self.run.history.of(self.name)
        for o in ops:  # JSON-able values for the checker's cache and output
            if isinstance(o.get("value"), list):
                o["value"] = tuple(o["value"])
        return checkers.check_register(ops, self.init,
                                       time_limit=self.run.checker_time_limit)


# --- auth ----------------------------------------------------------------------

def probe_outcome(r):
    """ok: let in; fail: refused (401/403); unknown: no answer / 5xx."""
    if r.status is None or r.status >= 500:
        return UNKNOWN, {}
    if r.status in (401, 403):
        return FAIL, {}
    return OK, {}


class AuthWorkload(Workload):
    name = "auth"

    def client_count(self, nodes):
        return 2 if nodes <= 3 else 3
    ROUNDS_AFTER_DELETE = 2

    SWEEP = 10  # recently deleted certificates presented to every node after a heal

    def setup(self):
        self.dir = os.path.join(self.run.dir, "auth-certs")
        os.makedirs(self.dir, exist_ok=True)
        self.lock = threading.Lock()
        self.deleted = []  # (thumbprint, ssl context, dates) of acknowledged deletes

    def revisit(self, process, rng, probe_body):
        """Deleted certificates come back to haunt every node: for 3 s
        after each heal (a restarted or reconnected node may not yet have
        applied the deletes it missed), present the recently deleted ones
        to every node, again and again; otherwise one at random to the
        home node."""
        with self.lock:
            recent = list(self.deleted[-self.SWEEP:])
            old = rng.choice(self.deleted) if self.deleted else None
        if self.run.history.now() - self.run.last_heal < 3.0:
            for thumb, ctx, dates in recent:
                for u in self.urls():
                    if self.run.stopping():
                        return
                    self.probe(process, ctx, u, "read", thumb, dates, probe_body)
        elif old is not None:
            thumb, ctx, dates = old
            self.probe(process, ctx, self.target(process, rng), "read", thumb, dates,
                       probe_body)

    def new_cert(self, name):
        crt = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=" + name)
        return crt, key

    def probe(self, process, ctx, url, kind, thumb, dates, probe_body):
        if kind == "read":
            fn = lambda: call(ctx, url, "GET", "/certificates/whoami")
        elif kind == "linear-read":
            fn = lambda: call(ctx, url, "GET", "/certificates/whoami?consistency=linearizable")
        else:
            fn = lambda: call(ctx, url, "PUT", "/admin/certificates", probe_body)
        self.record(process, "probe", url, fn, probe_outcome, kind=kind, key=thumb,
                    not_before=dates[0], not_after=dates[1])

    def client_loop(self, process, rng):
        # The write probe uploads this (harmless) certificate again and again.
        pcrt, _ = self.new_cert("jepsen-auth-probe-%d" % process)
        with open(pcrt, "rb") as f:
            probe_body = upload_body("jepsen-auth-probe-%d" % process, f.read())
        n = 0
        while not self.run.stopping():
            self.revisit(process, rng, probe_body)
            n += 1
            name = "jepsen-auth-%d-%d" % (process, n)
            crt, key = self.new_cert(name)
            dates = cert_dates(crt)
            with open(crt, "rb") as f:
                pem = f.read()
            thumb = hashlib.sha256(openssl("x509", "-in", crt, "-outform", "DER")).hexdigest().upper()
            ctx = ssl_context(self.run.cluster.cacert, crt, key)
            url = self.target(process, rng)
            op, _ = self.record(
                process, "upload", url,
                lambda: call(self.admin_ctx, url, "PUT", "/admin/certificates",
                             upload_body(name, pem, "Operator")),
                lambda r: (r.write_outcome(), {}), key=thumb, name=name)
            if op["outcome"] == FAIL:
                continue
            for kind in ("read", "write", "read"):  # in use: let in (unless a clock is skewed)
                if self.run.stopping():
                    break
                self.probe(process, ctx, self.target(process, rng), kind, thumb,
                           dates, probe_body)
            url = self.target(process, rng)
            op, _ = self.record(process, "delete", url,
                                lambda: call(self.admin_ctx, url, "DELETE",
                                             "/admin/certificates?thumbprint=" + thumb),
                                lambda r: (r.write_outcome(), {}), key=thumb)
            if op["outcome"] == OK:
                with self.lock:
                    self.deleted.append((thumb, ctx, dates))
                    del self.deleted[:-200]
            for _ in range(self.ROUNDS_AFTER_DELETE):
                urls = self.urls()
                rng.shuffle(urls)
                for u in urls:
                    for kind in ("read", "linear-read", "write"):
                        if self.run.stopping():
                            return
                        self.probe(process, ctx, u, kind, thumb, dates, probe_body)

    def final(self):
        """After healing, every node must refuse every deleted certificate
        (a sample of them, presented to every node)."""
        deleted = [o for o in self.run.history.of(self.name)
                   if o["f"] == "delete" and o["outcome"] == OK]
        rng = random.Random(self.run.seed)
        sample = rng.sample(deleted, min(len(deleted), 20))
        for o in sample:
            thumb = o["key"]
            name = None
            for u in self.run.history.of(self.name):
                if u["f"] == "upload" and u["key"] == thumb:
                    name = u["name"]
            if name is None:
                continue
            crt = os.path.join(self.dir, name + ".crt")
            ctx = ssl_context(self.run.cluster.cacert, crt,
                              os.path.join(self.dir, name + ".key"))
            dates = cert_dates(crt)
            for n in self.run.cluster.nodes.values():
                self.probe(-1, ctx, n.url, "read", thumb, dates, None)

    def check(self):
        grace = self.run.local_read_grace
        return checkers.check_auth(self.run.history.of(self.name),
                                   clock=checkers.ClockTimeline(self.run.clock_changes),
                                   local_grace=grace)


WORKLOADS = {"set": SetWorkload, "register": RegisterWorkload, "auth": AuthWorkload}
