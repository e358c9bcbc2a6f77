#!/usr/bin/env python3
"""A client certificate's whole life, as a new user lives it: once with
the real curl binary, once with certctl, on a 3-node cluster.

Generate a certificate with Read on database `hr`; read with it (200) and
be refused a write (403); edit it to ReadWrite and write through another
node; disable it (403 from every node); delete it (403 from every node).
Plus what the generated certificate is (CN, issuer, EKU, serial, dates),
and the generate reply through every node.
"""

import datetime
import json
import os
import subprocess
import sys

from certraft_cluster import Cluster, openssl, run_tests, thumbprint_of, wait_until
from lifecycle_helpers import expect, pfx_certificates, read, unzip_generated

cluster = None
SEED = {"Name": "Grace Hopper", "Title": "Rear Admiral"}


# --- curl -------------------------------------------------------------------

class Curl:
    """The real curl binary: what a user types, verifying the node with the
    cluster CA and presenting a client certificate."""

    def __init__(self, crt=None, key=None):
        self.crt, self.key = crt, key

    def __call__(self, node, method, path, data=None):
        out = os.path.join(cluster.dir, "curl.out")
        hdr = os.path.join(cluster.dir, "curl.hdr")
        args = ["curl", "-sS", "--cacert", cluster.cacert, "-X", method,
                "-o", out, "-D", hdr, "-w", "%{http_code}", node.url + path]
        if self.crt:
            args += ["--cert", self.crt, "--key", self.key]
        if data is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        p = subprocess.run(args, input=json.dumps(data).encode() if data is not None else None,
                           capture_output=True, timeout=30)
        assert p.returncode == 0, "curl failed: %s" % p.stderr.decode()
        headers = {}
        for line in read(hdr).decode().splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return CurlResponse(int(p.stdout), read(out), headers)


class CurlResponse:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<curl %d %s>" % (self.status, self.body[:300])


def nodes():
    lead = cluster.leader()
    return [lead] + cluster.followers()


def test_generated_certificate_is_what_the_api_promises():
    """CN=Name, signed by the cluster certificate, clientAuth, 20-byte
    serial, NotBefore now-7d, NotAfter now+5y; the PFX holds the key."""
    admin = Curl(cluster.admin_cert, cluster.admin_key)
    lead = cluster.leader()
    r = admin(lead, "POST", "/admin/certificates",
              {"Name": "inspect-me", "SecurityClearance": "ValidUser",
               "Permissions": {"hr": "Read"}})
    assert r.status == 201, r
    assert r.headers.get("content-type") == "application/zip", r.headers
    assert 'filename="inspect-me.zip"' in r.headers.get("content-disposition", ""), r.headers
    crt, key, pfx = unzip_generated(r, cluster.dir, "inspect-me")
    text = openssl("x509", "-in", crt, "-noout", "-subject", "-issuer", "-serial",
                   "-startdate", "-enddate", "-ext", "extendedKeyUsage").decode()
    ca_subject = openssl("x509", "-in", cluster.cacert, "-noout", "-subject").decode()
    assert "subject=CN = inspect-me" in text, text
    assert "issuer=" + ca_subject.split("=", 1)[1].strip() in text, (text, ca_subject)
    assert "TLS Web Client Authentication" in text, text
    serial = [l for l in text.splitlines() if l.startswith("serial=")][0][7:]
    assert len(serial) == 40, "serial %s is not 20 bytes" % serial
    verify = subprocess.run(["openssl", "verify", "-CAfile", cluster.cacert,
                             "-purpose", "sslclient", crt], capture_output=True)
    assert verify.returncode == 0, verify.stderr

    def date(field):
        line = [l for l in text.splitlines() if l.startswith(field + "=")][0]
        return datetime.datetime.strptime(line.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
    now = datetime.datetime.utcnow()
    nb, na = date("notBefore"), date("notAfter")
    assert abs((now - nb) - datetime.timedelta(days=7)) < datetime.timedelta(hours=1), nb
    assert abs((na - now) - datetime.timedelta(days=1826)) < datetime.timedelta(days=2), na
    # The key in the zip belongs to the certificate, in .key and in .pfx.
    pub_crt = openssl("x509", "-in", crt, "-noout", "-pubkey")
    pub_key = openssl("pkey", "-in", key, "-pubout")
    assert pub_crt == pub_key
    ders, has_key = pfx_certificates(read(pfx), "")
    assert has_key and ders == [openssl("x509", "-in", crt, "-outform", "DER")], ders
    # The listing shows the same thing.
    listed = cluster.admin.request(lead.url, "GET", "/admin/certificates?thumbprint=" +
                                   thumbprint_of(crt)).json()["Results"][0]
    assert listed["Name"] == "inspect-me" and listed["Permissions"] == {"hr": "Read"}, listed
    assert listed["Subject"] == "CN=inspect-me", listed


def test_generate_through_any_node_returns_the_thumbprint_header():
    """Any node accepts a generate (a follower forwards it): the reply is
    the same everywhere, X-Certraft-Thumbprint and file name included."""
    for n in nodes():
        name = "via-node%d" % n.id
        r = cluster.admin.request(n.url, "POST", "/admin/certificates",
                                  {"Name": name, "SecurityClearance": "ValidUser",
                                   "Permissions": {}})
        expect(r, 201, "generate on node %d" % n.id)
        assert 'filename="%s.zip"' % name in r.headers.get("Content-Disposition", ""), (
            "node %d: no Content-Disposition file name: %r" % (n.id, r.headers))
        crt, _, _ = unzip_generated(r, cluster.dir, name)  # checks the header
        assert cluster.admin.request(
            cluster.leader().url, "GET",
            "/admin/certificates?thumbprint=" + thumbprint_of(crt)).status == 200


def test_read_certificate_lifecycle_with_curl():
    admin = Curl(cluster.admin_cert, cluster.admin_key)
    a, b, c = nodes()  # a leads; b and c follow
    assert admin(a, "PUT", "/databases/hr/docs?id=employees/1", SEED).status == 201

    # 1. generate a Read certificate for hr
    r = admin(a, "POST", "/admin/certificates",
              {"Name": "hr-reader", "SecurityClearance": "ValidUser",
               "Permissions": {"hr": "Read"}})
    assert r.status == 201, r
    crt, key, _ = unzip_generated(r, cluster.dir, "hr-reader")
    thumb = thumbprint_of(crt)
    user = Curl(crt, key)

    # 2. read: 200, the document as stored
    r = user(a, "GET", "/databases/hr/docs?id=employees/1")
    assert r.status == 200 and r.json() == SEED, r
    r = user(a, "GET", "/databases/hr/docs")
    assert r.status == 200 and {"Id": "employees/1", "Document": SEED} in r.json()["Results"], r
    # write: 403, and the document is unchanged
    r = user(a, "PUT", "/databases/hr/docs?id=employees/1", {"Name": "Mallory"})
    assert r.status == 403 and "ReadWrite" in r.json()["Error"], r
    r = user(a, "PUT", "/databases/hr/docs?id=employees/2", {"Name": "Mallory"})
    assert r.status == 403, r
    assert admin(a, "GET", "/databases/hr/docs?id=employees/1").json() == SEED
    assert admin(a, "GET", "/databases/hr/docs?id=employees/2").status == 404

    # 3. edit to ReadWrite (on a follower), then write from the other one
    r = admin(b, "POST", "/admin/certificates/edit",
              {"Thumbprint": thumb, "Permissions": {"hr": "ReadWrite"}})
    assert r.status == 200 and r.json()["Permissions"] == {"hr": "ReadWrite"}, r
    r = user(c, "PUT", "/databases/hr/docs?id=employees/2", {"Name": "Katherine Johnson"})
    assert r.status == 201 and r.json() == {"Id": "employees/2"}, r
    wait_until("the new document on node %d" % c.id,
               lambda: user(c, "GET", "/databases/hr/docs?id=employees/2").status == 200,
               timeout=10)
    assert user(c, "GET", "/databases/hr/docs?id=employees/2").json() == {
        "Name": "Katherine Johnson"}

    # 4. disable: 403 on every node, for reads and writes
    r = admin(a, "POST", "/admin/certificates/edit", {"Thumbprint": thumb, "Disabled": True})
    assert r.status == 200 and r.json()["Disabled"] is True, r
    for n in nodes():
        wait_until("node %d to refuse the disabled certificate" % n.id,
                   lambda: user(n, "GET", "/databases/hr/docs?id=employees/1").status == 403,
                   timeout=10)
        r = user(n, "GET", "/databases/hr/docs?id=employees/1")
        assert "disabled" in r.json()["Error"] and thumb in r.json()["Error"], r
        r = user(n, "PUT", "/databases/hr/docs?id=employees/3", {"x": 1})
        assert r.status == 403, r
    assert admin(a, "GET", "/databases/hr/docs?id=employees/3").status == 404

    # 5. delete: 403 ("unknown certificate") on every node
    r = admin(c, "DELETE", "/admin/certificates?thumbprint=" + thumb)
    assert r.status == 200 and r.json() == {"Deleted": [thumb]}, r
    for n in nodes():
        wait_until("node %d to refuse the deleted certificate" % n.id,
                   lambda: "unknown certificate" in user(
                       n, "GET", "/certificates/whoami").body.decode(), timeout=10)
        r = user(n, "GET", "/databases/hr/docs?id=employees/1")
        assert r.status == 403 and thumb in r.json()["Error"], r
    r = admin(a, "GET", "/admin/certificates?thumbprint=" + thumb)
    assert r.status == 404, r


def ok(proc):
    assert proc.returncode == 0, "certctl failed (%d): %s %s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def refused(proc, *words):
    assert proc.returncode == 1, "certctl should have failed: %r" % proc
    assert proc.stderr.strip() and "403" in proc.stderr, proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)
    return proc.stderr


def test_read_certificate_lifecycle_with_certctl():
    a, b, c = nodes()
    listed = json.loads(ok(cluster.certctl("--output", "json", "db", "list")))
    assert listed == cluster.admin.request(a.url, "GET", "/databases").json(), listed
    assert "hr" in [d["Name"] for d in listed["Databases"]], listed
    ok(cluster.certctl("docs", "put", "--db", "hr", "--id", "people/1",
                       "--data", json.dumps(SEED)))

    # 1. generate
    out_dir = os.path.join(cluster.dir, "cli")
    os.makedirs(out_dir)
    out = ok(cluster.certctl("certs", "generate", "--name", "hr-cli", "--perm", "hr=Read",
                             "--out", out_dir))
    crt, key = os.path.join(out_dir, "hr-cli.crt"), os.path.join(out_dir, "hr-cli.key")
    thumb = thumbprint_of(crt)
    assert thumb in out, out
    for ext in (".crt", ".key", ".pfx"):
        mode = os.stat(os.path.join(out_dir, "hr-cli" + ext)).st_mode & 0o777
        assert mode == 0o600, (ext, oct(mode))
    assert "PRIVATE KEY" not in out, "certctl printed the key"

    def as_user(*args, node=None):
        return cluster.certctl(*args, cert=crt, key=key,
                               urls=[node.url] if node else None)

    # 2. read works, write is refused and changes nothing
    got = json.loads(ok(as_user("docs", "get", "--db", "hr", "--id", "people/1", node=a)))
    assert got == SEED, got
    refused(as_user("docs", "put", "--db", "hr", "--id", "people/1",
                    "--data", '{"Name": "Mallory"}', node=a), thumb)
    assert json.loads(ok(cluster.certctl("docs", "get", "--db", "hr",
                                         "--id", "people/1"))) == SEED

    # 3. edit to ReadWrite; write through another node
    edited = json.loads(ok(cluster.certctl("--output", "json", "certs", "edit",
                                           "--thumbprint", thumb, "--perm", "hr=ReadWrite",
                                           urls=[b.url])))
    assert edited["Permissions"] == {"hr": "ReadWrite"}, edited
    ok(as_user("docs", "put", "--db", "hr", "--id", "people/2",
               "--data", '{"Name": "Dorothy Vaughan"}', node=c))
    assert json.loads(ok(cluster.certctl("docs", "get", "--db", "hr", "--id", "people/2",
                                         urls=[a.url]))) == {"Name": "Dorothy Vaughan"}

    # 4. disable: refused by every node
    ok(cluster.certctl("certs", "edit", "--thumbprint", thumb, "--disable"))
    for n in nodes():
        wait_until("node %d to refuse the disabled certificate" % n.id,
                   lambda: as_user("docs", "get", "--db", "hr", "--id", "people/1",
                                   node=n).returncode == 1, timeout=10)
        refused(as_user("docs", "get", "--db", "hr", "--id", "people/1", node=n), "disabled")
        refused(as_user("docs", "put", "--db", "hr", "--id", "people/3", "--data", "{}",
                        node=n))

    # 5. delete: refused by every node
    out = ok(cluster.certctl("certs", "delete", "--thumbprint", thumb))
    assert thumb in out, out
    for n in nodes():
        wait_until("node %d to refuse the deleted certificate" % n.id,
                   lambda: "unknown certificate" in as_user("certs", "whoami",
                                                            node=n).stderr, timeout=10)
        refused(as_user("docs", "get", "--db", "hr", "--id", "people/1", node=n), thumb)
    assert thumb not in ok(cluster.certctl("certs", "list"))


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": "hr"}), 201)
        code = run_tests([
            test_generated_certificate_is_what_the_api_promises,
            test_generate_through_any_node_returns_the_thumbprint_header,
            test_read_certificate_lifecycle_with_curl,
            test_read_certificate_lifecycle_with_certctl,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
