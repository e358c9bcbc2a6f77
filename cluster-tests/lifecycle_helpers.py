"""lifecycle_helpers - shared pieces of the certificate life-cycle tests
(test_lifecycle_*.py) and the authorization matrix (test_authz_matrix.py).

What a user sees is what these helpers look at: status codes, JSON error
bodies, the registry listing, the databases and their documents, and the
files a node leaves on disk. Standard library and the openssl CLI only.
"""

import base64
import hashlib
import io
import os
import subprocess
import zipfile
from urllib.parse import quote as _quote

from certraft_cluster import openssl, thumbprint_of, wait_until

MAX_BODY = 4 * 1024 * 1024  # certnode's default --max-body


# --- answers ---------------------------------------------------------------

def expect(resp, status, what=""):
    """Assert the status; return the response for chaining."""
    assert resp.status == status, "%s: expected %d, got %r" % (
        what or "request", status, resp)
    return resp


def expect_error(resp, status, *words, what=""):
    """A refused request: the status, a JSON {"Error","Type"} body, and a
    message that names each of `words` (case-insensitive): what to fix."""
    expect(resp, status, what)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        what, resp.headers)
    body = resp.json()
    assert isinstance(body, dict) and set(body) >= {"Error", "Type"}, (what, body)
    assert isinstance(body["Error"], str) and body["Error"], (what, body)
    assert isinstance(body["Type"], str) and body["Type"], (what, body)
    msg = body["Error"].lower()
    for w in words:
        assert w.lower() in msg, "%s: error message should mention %r: %r" % (
            what or "request", w, body["Error"])
    return body


# --- what the cluster holds ------------------------------------------------

def certs_of(client, url):
    r = expect(client.request(url, "GET", "/admin/certificates?secondary=true"),
               200, "list certificates")
    return {e["Thumbprint"]: e for e in r.json()["Results"]}


def databases_of(client, url):
    r = expect(client.request(url, "GET", "/databases"), 200, "list databases")
    return {d["Name"]: d for d in r.json()["Databases"]}


def documents_of(client, url, db):
    """Every document of `db`, following NextStart page by page."""
    docs, start = {}, None
    while True:
        path = "/databases/%s/docs?pageSize=1024" % db
        if start is not None:
            path += "&start=" + _quote(start, safe="")
        r = expect(client.request(url, "GET", path), 200, "list documents of " + db)
        page = r.json()
        for d in page["Results"]:
            docs[d["Id"]] = d["Document"]
        start = page.get("NextStart")
        if not start:
            return docs


def snapshot(cluster, node=None):
    """What a ClusterAdmin can see on `node` (default: the leader): every
    certificate entry (secondaries too), every database, every document."""
    url = (node or cluster.leader()).url
    admin = cluster.admin
    dbs = databases_of(admin, url)
    return {
        "certs": certs_of(admin, url),
        "databases": dbs,
        "documents": {db: documents_of(admin, url, db) for db in sorted(dbs)},
    }


def assert_unchanged(before, after, what):
    if before == after:
        return
    diffs = []
    for part in ("certs", "databases", "documents"):
        b, a = before[part], after[part]
        for k in sorted(set(b) | set(a)):
            if b.get(k) != a.get(k):
                diffs.append("%s[%s]: %r -> %r" % (part, k, b.get(k), a.get(k)))
    raise AssertionError("%s changed the cluster: %s" % (what, "; ".join(diffs)[:2000]))


def assert_only_changed(before, after, part, keys, what):
    """Everything but `part`[keys] is as before (a permitted operation
    touched only its target). A database's own entry carries its document
    count, so touching documents[db] also allows databases[db]."""
    b = {p: dict(v) for p, v in before.items()}
    a = {p: dict(v) for p, v in after.items()}
    parts = [part] + (["databases"] if part == "documents" else []) + \
        (["documents"] if part == "databases" else [])
    for p in parts:
        for k in keys:
            b[p].pop(k, None)
            a[p].pop(k, None)
    assert_unchanged(b, a, what + " (beyond its target)")


# --- certificates ----------------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode()


def upload_body(name, blob, clearance="ValidUser", permissions=None, password=None):
    body = {"Name": name, "Certificate": b64(blob), "SecurityClearance": clearance,
            "Permissions": permissions or {}}
    if password is not None:
        body["Password"] = password
    return body


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def unzip_generated(resp, directory, name, check_header=True):
    """The zip of a 201 from POST /admin/certificates: check its three
    members and write them to `directory`. Returns (crt, key, pfx) paths."""
    hdr = {k.lower(): v for k, v in resp.headers.items()}
    assert hdr.get("content-type") == "application/zip", resp.headers
    with zipfile.ZipFile(io.BytesIO(resp.body)) as z:
        names = sorted(z.namelist())
        assert names == sorted([name + ".pfx", name + ".crt", name + ".key"]), names
        out = []
        for ext in (".crt", ".key", ".pfx"):
            path = os.path.join(directory, name + ext)
            write(path, z.read(name + ext))
            os.chmod(path, 0o600)
            out.append(path)
    if check_header:
        thumb = hdr.get("x-certraft-thumbprint")
        assert thumb == thumbprint_of(out[0]), (
            "X-Certraft-Thumbprint header %r, but the zip's certificate is %s" % (
                thumb, thumbprint_of(out[0])))
    return tuple(out)


def generate(cluster, name, clearance="ValidUser", permissions=None, client=None,
             url=None, check_header=True, **extra):
    """Generate a certificate through the API and save its files in the
    cluster's directory. Returns (thumbprint, crt, key, pfx)."""
    body = {"Name": name, "SecurityClearance": clearance,
            "Permissions": permissions or {}}
    body.update(extra)
    r = (client or cluster.admin).request(url or cluster.leader().url, "POST",
                                         "/admin/certificates", body)
    expect(r, 201, "generate " + name)
    crt, key, pfx = unzip_generated(r, cluster.dir, name, check_header)
    return thumbprint_of(crt), crt, key, pfx


def register(cluster, name, clearance="ValidUser", permissions=None, days=30):
    """A self-signed certificate made with openssl and uploaded by the
    ClusterAdmin. Returns (thumbprint, crt, key)."""
    crt, key = cluster.new_cert(name, days=days)
    r = cluster.request_leader("PUT", "/admin/certificates",
                               upload_body(name, read(crt), clearance, permissions))
    expect(r, 201, "upload " + name)
    return r.json()["Thumbprint"], crt, key


def known_everywhere(cluster, crt, key, timeout=15):
    """Wait until every running node authenticates the certificate."""
    c = cluster.client(crt, key)
    for n in cluster.running_nodes():
        wait_until("%s accepted by node %d" % (os.path.basename(crt), n.id),
                   lambda: c.request(n.url, "GET", "/certificates/whoami").status == 200,
                   timeout=timeout)
    return c


def der_of(path_or_pem):
    return openssl("x509", "-in", path_or_pem, "-outform", "DER")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest().upper()


def make_ca(directory, name, days=365):
    """A CA certificate (basicConstraints CA:TRUE) and its key."""
    crt = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-days", str(days),
            "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def make_leaf(directory, name, ca_crt, ca_key, days=30):
    """A client certificate signed by the CA."""
    crt = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    write(ext, b"basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", ext)
    return crt, key


def make_pfx(path, crt, key, extra_crts=(), password="", legacy=False):
    """A PFX of crt+key with extra certificates (openssl pkcs12 -export)."""
    args = ["pkcs12", "-export", "-in", crt, "-inkey", key, "-out", path,
            "-passout", "pass:" + password]
    if extra_crts:
        chain = path + ".chain.pem"
        write(chain, b"".join(read(c) for c in extra_crts))
        args += ["-certfile", chain]
    if legacy:
        args.append("-legacy")
    openssl(*args)
    return path


def pfx_certificates(pfx_bytes, password=""):
    """DERs of the certificates inside a PFX, and whether it holds a key."""
    pems = subprocess.run(
        ["openssl", "pkcs12", "-nokeys", "-passin", "pass:" + password],
        input=pfx_bytes, capture_output=True, check=True).stdout
    keys = subprocess.run(
        ["openssl", "pkcs12", "-nocerts", "-nodes", "-passin", "pass:" + password],
        input=pfx_bytes, capture_output=True, check=True).stdout
    ders = []
    marker = b"-----BEGIN CERTIFICATE-----"
    for chunk in pems.split(marker)[1:]:
        pem = marker + chunk.split(b"-----END CERTIFICATE-----")[0] + \
            b"-----END CERTIFICATE-----\n"
        ders.append(openssl("x509", "-outform", "DER", input=pem))
    return ders, b"PRIVATE KEY" in keys


# --- secrets ---------------------------------------------------------------

def _der_items(der):
    """Top-level (tag, value) items of a DER SEQUENCE's contents."""
    items, i = [], 0
    while i < len(der):
        tag = der[i]
        length = der[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(der[i:i + n], "big")
            i += n
        items.append((tag, der[i:i + length]))
        i += length
    return items


def private_secrets(key_path, password=None):
    """The secret bytes of a private key (not its shared DER prefix): the
    EC private scalar, or RSA's d, p and q."""
    args = ["pkey", "-in", key_path, "-outform", "DER", "-traditional"]
    if password is not None:
        args += ["-passin", "pass:" + password]
    der = openssl(*args)
    (tag, body), = _der_items(der)
    items = _der_items(body)
    if len(items) >= 6:  # RSAPrivateKey: version n e d p q ...
        return [items[i][1].lstrip(b"\0") for i in (3, 4, 5)]
    # ECPrivateKey: version, OCTET STRING privateKey, ...
    assert items[1][0] == 0x04, items
    return [items[1][1]]


def needles(secret):
    """Byte strings whose presence would give `secret` away: raw, hex
    (both cases, with and without ':' separators) and base64 at each of
    the three alignments it can have inside a longer base64 text."""
    out = [secret, secret.hex().encode(), secret.hex().upper().encode(),
           ":".join("%02x" % b for b in secret).encode(),
           ":".join("%02X" % b for b in secret).encode()]
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + secret)
        # Drop the characters that also depend on the bytes around it.
        core = enc[4:-4] if shift else enc[:-4]
        out.append(core)
        out.append(base64.urlsafe_b64encode(b"\0" * shift + secret)[4:-4]
                   if shift else base64.urlsafe_b64encode(secret)[:-4])
    return out


def normalized_views(data):
    """The bytes as stored, and with the line breaks and JSON escapes
    that could split a base64 text removed."""
    flat = data.replace(b"\r", b"").replace(b"\n", b"")
    return [data, flat, flat.replace(b"\\/", b"/").replace(b"\\n", b"")]


def files_under(root):
    for d, _, files in os.walk(root):
        for name in files:
            yield os.path.join(d, name)


LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"


_decompressed = {}  # snapshot path -> its bytes decompressed


def stored_contents(path):
    """The file's bytes, and for an LZ4 frame its decompressed bytes too,
    every layer of them (a snapshot file is raft's LZ4 of certnode's LZ4
    frame of the state): a back-reference can split any string that the
    compressed bytes are searched for, secret or expected. raft writes a
    snapshot file once under a new name, so each is decompressed once
    however often a test polls."""
    data = read(path)
    if not data.startswith(LZ4_FRAME_MAGIC):
        return [data]
    key = (path, len(data))
    if key not in _decompressed:
        layers = []
        inner = data
        while inner.startswith(LZ4_FRAME_MAGIC) and len(layers) < 4:
            inner = subprocess.run(["lz4", "-d", "-c"], input=inner,
                                   capture_output=True, check=True).stdout
            layers.append(inner)
        _decompressed[key] = layers
    return [data] + _decompressed[key]


def find_needles(paths, needle_list):
    """[(path, index of needle)] for every needle found in the files."""
    found = []
    for path in paths:
        views = [v for data in stored_contents(path) for v in normalized_views(data)]
        for i, n in enumerate(needle_list):
            if any(n in v for v in views):
                found.append((path, i))
    return found


def metrics_of(client, url):
    """GET /metrics parsed: {series (with labels): float}."""
    r = expect(client.request(url, "GET", "/metrics"), 200, "metrics")
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    out = {}
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out, r.body.decode()


def audit_of(client, url):
    """Every audit record, following the pages."""
    records, start = [], 0
    while True:
        r = expect(client.request(url, "GET", "/admin/audit?start=%d&pageSize=500" % start),
                   200, "audit")
        page = r.json()
        records += page["Results"]
        start += len(page["Results"])
        if not page["Results"] or start >= page["Total"]:
            return records, page["Total"]



def make_dated(directory, name, start="20200101000000Z", end="20200201000000Z"):
    """A certificate with chosen validity dates (e.g. long expired), signed
    by a throwaway CA with `openssl ca`. Returns (crt, key)."""
    work = os.path.join(directory, name + ".ca")
    os.makedirs(work, exist_ok=True)
    cnf = write(os.path.join(work, "ca.cnf"), (
        "[ca]\ndefault_ca=x\n[x]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
        "serial=%s/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
        "[p]\ncommonName=supplied\n" % (work, work, work)).encode())
    write(os.path.join(work, "index.txt"), b"")
    write(os.path.join(work, "serial"), b"01\n")
    ca, ca_key = make_ca(work, name + "-ca")
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(work, name + ".csr")
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("ca", "-batch", "-config", cnf, "-cert", ca, "-keyfile", ca_key,
            "-in", csr, "-out", crt, "-startdate", start, "-enddate", end, "-notext")
    return crt, key
