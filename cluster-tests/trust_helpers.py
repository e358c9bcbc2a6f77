"""trust_helpers - shared pieces of the trust tests (test_trust_*.py):
implicit trust by pinning hash, client CAs, cluster certificate rotation,
trust between clusters, and a node cut off from its majority.

Certificates are made with the openssl CLI; what the tests look at is what
a user sees: status codes and JSON bodies, whoami, the registry listing,
the audit log, the certificate a node serves, and the files in a node's
data directory. Standard library and the openssl CLI only.

Clients that must keep verifying the nodes across a rotation use
MultiTrustClient / ClusterTrust: OpenSSL uses only the first of two
self-signed certificates with one subject in a CA file, and a renewed
cluster certificate keeps its subject.
"""

import base64
import hashlib
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time

from certraft_cluster import Client, openssl, thumbprint_of, wait_until
from lifecycle_helpers import audit_of, expect, read, write

__all__ = [
    "new_key", "make_ca", "issue", "issue_dated", "leaf", "self_signed", "pin_of", "thumbprint_of",
    "make_cluster_pfx", "served_der", "served_thumbprint", "trust_bundle",
    "whoami", "entries_with", "entries_with_pin", "audit_ops",
    "rotation_status", "wait_phase", "cluster_nodes_entries",
    "Sampler", "Writer", "netns_reexec", "can_use_netns", "MultiTrustClient", "ClusterTrust",
    "der_to_pem",
]


# --- certificates ------------------------------------------------------------

def new_key(directory, name):
    """A fresh P-256 private key (PEM) at directory/name.key."""
    path = os.path.join(directory, name + ".key")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", path)
    return path


def make_ca(directory, name, cn=None, days=365, key=None):
    """A CA certificate (CA:TRUE, keyCertSign; SKI/AKI as openssl adds
    them) with subject CN=`cn` (default `name`). Returns (crt, key)."""
    key = key or new_key(directory, name)
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-x509", "-key", key, "-out", crt, "-days", str(days),
            "-subj", "/CN=" + (cn or name), "-set_serial", _serial(),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def _serial():
    return "0x" + secrets.token_hex(12)


def issue(directory, name, ca_crt, ca_key, key, cn=None, days=30,
          eku="clientAuth", ca=False):
    """A certificate for the existing private key `key`, signed by the CA,
    with a new random serial. `days` sets NotAfter (so renewals can be
    told apart by expiry). eku=None leaves the EKU extension out. Returns
    the certificate's path."""
    crt = os.path.join(directory, name + ".crt")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    lines = ["basicConstraints=critical,CA:TRUE" if ca else "basicConstraints=CA:FALSE",
             "keyUsage=critical,keyCertSign,cRLSign" if ca else
             "keyUsage=critical,digitalSignature",
             "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid,issuer"]
    if eku:
        lines.append("extendedKeyUsage=" + eku)
    write(ext, ("\n".join(lines) + "\n").encode())
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + (cn or name))
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", _serial(), "-out", crt, "-days", str(days),
            "-extfile", ext)
    return crt


def issue_dated(directory, name, ca_crt, ca_key, start, end, cn=None):
    """A client certificate (new key) signed by the CA with chosen
    validity dates ("YYYYMMDDHHMMSSZ"), e.g. long expired or not valid
    yet, made with `openssl ca`. Returns (crt, key)."""
    work = os.path.join(directory, name + ".ca")
    os.makedirs(work, exist_ok=True)
    cnf = write(os.path.join(work, "ca.cnf"), (
        "[ca]\ndefault_ca=x\n[x]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
        "serial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
        "x509_extensions=leaf\n[p]\ncommonName=supplied\n"
        "[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n"
        % (work, work, work)).encode())
    write(os.path.join(work, "index.txt"), b"")
    write(os.path.join(work, "serial"), (secrets.token_hex(8) + "\n").encode())
    key = new_key(directory, name)
    csr = os.path.join(work, name + ".csr")
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + (cn or name))
    openssl("ca", "-batch", "-config", cnf, "-cert", ca_crt, "-keyfile", ca_key,
            "-in", csr, "-out", crt, "-startdate", start, "-enddate", end, "-notext")
    return crt, key


def leaf(directory, name, ca, cn=None, days=30, eku="clientAuth"):
    """A client certificate with a new key from ca = (crt, key).
    Returns (crt, key)."""
    key = new_key(directory, name)
    return issue(directory, name, ca[0], ca[1], key, cn=cn, days=days, eku=eku), key


def self_signed(directory, name, key, cn=None, days=30):
    """A self-signed certificate for the existing key (a new serial every
    time). Returns its path."""
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-x509", "-key", key, "-out", crt, "-days", str(days),
            "-subj", "/CN=" + (cn or name), "-set_serial", _serial())
    return crt


def pin_of(crt):
    """RFC 7469 pinning hash: base64(SHA-256(DER SubjectPublicKeyInfo))."""
    pub = openssl("x509", "-in", crt, "-noout", "-pubkey")
    der = openssl("pkey", "-pubin", "-outform", "DER", input=pub)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def make_cluster_pfx(directory, name, password="", days=365, key=None):
    """What an operator brings as a new cluster certificate: a self-signed
    CA that is also a TLS server and client certificate for the nodes
    (SAN 127.0.0.1 and localhost), and its key, as a PFX. Returns
    (pfx, crt, key)."""
    key = key or new_key(directory, name)
    crt = os.path.join(directory, name + ".crt")
    pfx = os.path.join(directory, name + ".pfx")
    openssl("req", "-x509", "-key", key, "-out", crt, "-days", str(days),
            "-subj", "/CN=" + name, "-set_serial", _serial(),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    openssl("pkcs12", "-export", "-in", crt, "-inkey", key, "-out", pfx,
            "-passout", "pass:" + password)
    return pfx, crt, key


def served_der(url, timeout=5):
    """DER of the certificate the node at `url` presents in TLS."""
    host, port = url.replace("https://", "").rstrip("/").split(":")
    pem = ssl.get_server_certificate((host, int(port)), timeout=timeout)
    return ssl.PEM_cert_to_DER_cert(pem)


def served_thumbprint(url, timeout=5):
    return hashlib.sha256(served_der(url, timeout)).hexdigest().upper()


def trust_bundle(directory, name, *crt_paths):
    """One CA file trusting several certificates (old and new cluster
    certificates during a rotation). Returns its path."""
    path = os.path.join(directory, name + ".pem")
    write(path, b"".join(read(p) if read(p).endswith(b"\n") else read(p) + b"\n"
                         for p in crt_paths))
    return path


class MultiTrustClient:
    """Like certraft_cluster.Client, but verifies the nodes against any one
    of several CA files, tried in turn. During a rotation some nodes serve
    the old cluster certificate and some the new; one CA file holding both
    does not do when they share their subject (a renewal): OpenSSL only
    ever uses the first of two self-signed certificates with one subject.
    A write is retried only when the TLS handshake failed verification, so
    it was never sent."""

    def __init__(self, cafiles, cert=None, key=None, timeout=15.0):
        self.clients = [Client(f, cert, key) for f in cafiles]
        self.timeout = timeout

    @property
    def timeout(self):
        return self.clients[0].timeout

    @timeout.setter
    def timeout(self, value):
        for c in self.clients:
            c.timeout = value

    def request(self, url, method, path, body=None, headers=None):
        # Two rounds: a node may switch between two of our handshakes.
        last = None
        for c in self.clients * 2:
            try:
                return c.request(url, method, path, body, headers)
            except ssl.SSLCertVerificationError as exc:
                last = exc
        raise last


def der_to_pem(der):
    b = base64.b64encode(der).decode()
    return ("-----BEGIN CERTIFICATE-----\n" +
            "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) +
            "\n-----END CERTIFICATE-----\n").encode()


class ClusterTrust:
    """The cluster certificates a test's clients trust, newest first:
    cluster.admin becomes a MultiTrustClient over them, and cluster.cacert
    (what cluster.client() and certctl use) a bundle of them, the newest
    first, which is the one OpenSSL uses when two share a subject."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.paths = [cluster.cacert]

    def add(self, *paths):
        for p in reversed(paths):
            if p not in self.paths:
                self.paths.insert(0, p)
        c = self.cluster
        c.cacert = trust_bundle(c.dir, "trusted-%d" % len(self.paths), *self.paths)
        c.admin = MultiTrustClient(self.paths, c.admin_cert, c.admin_key)

    def client(self, cert=None, key=None):
        return MultiTrustClient(self.paths, cert, key)

    def add_new(self, node, thumb, timeout=15):
        """Trust the new cluster certificate of a rotation as the registry
        lists it from the start (a ClusterNode entry), read from `node`
        over a connection verified with what is trusted already. Returns
        the PEM file's path."""
        def entry():
            got = entries_with(self.cluster, node, thumb)
            return got[0] if got else None
        e = wait_until("cluster certificate %s listed on node %d" % (thumb[:16], node.id),
                       entry, timeout=timeout)
        assert e["SecurityClearance"] == "ClusterNode", e
        der = base64.b64decode(e["Certificate"])
        assert hashlib.sha256(der).hexdigest().upper() == thumb, e
        path = os.path.join(self.cluster.dir, "cluster-%s.crt" % thumb[:16])
        write(path, der_to_pem(der))
        self.add(path)
        return path


# --- what the cluster says ---------------------------------------------------

def whoami(client, url):
    return client.request(url, "GET", "/certificates/whoami")


def entries_with(cluster, node, thumbprint):
    """Registry entries listed for a thumbprint on one node (a 404 "no
    certificate with thumbprint" is none)."""
    r = cluster.admin.request(node.url, "GET",
                              "/admin/certificates?secondary=true&thumbprint=" + thumbprint)
    if r.status == 404 and b"no certificate" in r.body:
        return []
    return expect(r, 200, "list on node %d" % node.id).json()["Results"]


def entries_with_pin(cluster, node, pin):
    r = expect(cluster.admin.request(node.url, "GET", "/admin/certificates?secondary=true"),
               200, "list on node %d" % node.id)
    return [e for e in r.json()["Results"] if e.get("PublicKeyPinningHash") == pin]


def cluster_nodes_entries(cluster, node, client=None):
    r = expect((client or cluster.admin).request(node.url, "GET",
                                                 "/admin/certificates?secondary=true"),
               200, "list on node %d" % node.id)
    return [e for e in r.json()["Results"] if e["SecurityClearance"] == "ClusterNode"]


def audit_ops(cluster, node, operation, target=None, client=None):
    records, _ = audit_of(client or cluster.admin, node.url)
    return [a for a in records if a["Operation"] == operation and
            (target is None or a["Target"] == target)]


def rotation_status(client, url):
    r = client.request(url, "GET", "/admin/certificates/replacement/status")
    expect(r, 200, "replacement status")
    return r.json()


def wait_phase(client, nodes, phase, timeout=60):
    """Wait until every node reports the replacement in `phase`."""
    def all_there():
        seen = [rotation_status(client, n.url) for n in nodes]
        return seen if all(s["Phase"] == phase for s in seen) else None
    return wait_until("every node to report replacement phase %s" % phase, all_there,
                      timeout=timeout, interval=0.2)


# --- continuous observation --------------------------------------------------

class Sampler(threading.Thread):
    """Calls probe() over and over from a thread, recording (t, value).
    probe() must not raise; stop() ends it and returns the samples."""

    def __init__(self, probe, interval=0.05):
        super().__init__(daemon=True)
        self.probe = probe
        self.interval = interval
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            t = time.monotonic()
            self.samples.append((t, self.probe()))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(30)
        return self.samples


class Writer(threading.Thread):
    """Writes documents continuously to whichever node answers, starting
    with the last one that worked. Each attempt is recorded as (start,
    end, node id, status or exception text, doc id)."""

    def __init__(self, client, nodes, db, prefix="w", timeout=3.0):
        super().__init__(daemon=True)
        self.client = client
        self.nodes = list(nodes)
        self.db = db
        self.prefix = prefix
        self.timeout = timeout
        self.attempts = []
        self.written = []  # doc ids answered 201
        self._halt = threading.Event()

    def run(self):
        i = 0
        k = 0
        self.client.timeout = self.timeout
        while not self._halt.is_set():
            node = self.nodes[k % len(self.nodes)]
            doc = "%s/%06d" % (self.prefix, i)
            t0 = time.monotonic()
            try:
                r = self.client.request(node.url, "PUT",
                                        "/databases/%s/docs?id=%s" % (self.db, doc),
                                        {"n": i, "via": node.id})
                outcome = r.status
            except Exception as exc:  # refused, reset, TLS failure: recorded
                outcome = "%s: %s" % (type(exc).__name__, exc)
            t1 = time.monotonic()
            self.attempts.append((t0, t1, node.id, outcome, doc))
            if outcome == 201:
                self.written.append(doc)
                i += 1
            else:
                k += 1  # try the next node
                i += 1  # a failed write may still have been applied: new id
                self._halt.wait(0.02)

    def stop(self):
        self._halt.set()
        self.join(30)
        return self.attempts

    def longest_gap(self, start=None, end=None):
        """Longest time without a successful write within [start, end],
        measured between the ends of consecutive successes (and from start
        / to end). Returns (seconds, from, to)."""
        ok = [a[1] for a in self.attempts if a[3] == 201]
        start = self.attempts[0][0] if start is None else start
        end = self.attempts[-1][1] if end is None else end
        points = [start] + [t for t in ok if start <= t <= end] + [end]
        best = (0.0, start, start)
        for a, b in zip(points, points[1:]):
            if b - a > best[0]:
                best = (b - a, a, b)
        return best

    def failures(self):
        return [a for a in self.attempts if a[3] != 201]


# --- network namespace -------------------------------------------------------

NETNS_ENV = "CERTRAFT_TRUST_NETNS"


def netns_reexec(script, argv):
    """Run `script` again inside a fresh network namespace (as root with
    the ip command), so that firewall rules touch nothing outside the test.
    Returns the exit code to use, or None when already inside (or when no
    namespace can be made: the caller then says why it cannot run).
    The namespace, and anything left running in it, goes afterwards."""
    if os.environ.get(NETNS_ENV):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        return None
    name = "certraft-trust-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        env = dict(os.environ)
        env[NETNS_ENV] = name
        proc = subprocess.run(["ip", "netns", "exec", name, sys.executable, script] +
                              list(argv), env=env)
        return proc.returncode
    finally:
        r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def can_use_netns():
    import shutil
    if os.geteuid() != 0:
        return False, "not root: network namespaces need CAP_SYS_ADMIN"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return False, "the %s command is missing" % tool
    return True, ""
