#!/usr/bin/env python3
"""Bad input gets a 4xx with a JSON {"Error","Type"} whose message says
what to fix, and changes nothing: malformed base64/PEM/PFX, a wrong PFX
password, an unknown clearance or access level, an invalid database name,
an empty name, a body over the node's limit (4 MiB by default), an
unknown or malformed thumbprint, bad generate options.

Each case is sent to the nodes in turn (followers forward writes), and
the registry, databases and documents are compared before and after.
Every table runs all its cases before failing, listing each mismatch.
"""

import http.client
import itertools
import os
import ssl
import sys

from certraft_cluster import Cluster, Response, run_tests, thumbprint_of, wait_until
from lifecycle_helpers import (MAX_BODY, assert_unchanged, b64, expect,
                               expect_error, make_pfx, read, snapshot)

cluster = None
rotation = itertools.count()
pem = pfx = b""
crt_path = ""
admin_thumb = ""


def next_node():
    nodes = sorted(cluster.running_nodes(), key=lambda n: n.id)
    return nodes[next(rotation) % len(nodes)]


def run_table(title, cases):
    """cases: (label, method, path, body, status, words). `words` are
    strings the message must contain, or callables taking the message."""
    failures = []
    for label, method, path, body, status, words in cases:
        node = next_node()
        before = snapshot(cluster)
        r = cluster.admin.request(node.url, method, path, body)
        try:
            plain = [w for w in words if isinstance(w, str)]
            msg = expect_error(r, status, *plain, what=label)["Error"]
            for w in words:
                if callable(w):
                    assert w(msg), "%s: the message does not say %s: %r" % (
                        label, w.__doc__, msg)
            assert_unchanged(before, snapshot(cluster), label)
        except AssertionError as exc:
            failures.append("%s [via node %d]: %s" % (label, node.id, exc))
    print("    %s: %d cases, %d wrong" % (title, len(cases), len(failures)))
    assert not failures, "%d of %d %s cases are wrong:\n  %s" % (
        len(failures), len(cases), title, "\n  ".join(failures))


def up(**fields):
    body = {"Name": "bad", "Certificate": b64(pem), "SecurityClearance": "ValidUser",
            "Permissions": {}}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def test_malformed_certificates():
    bad_pem = pem.replace(pem[80:96], b"!!!!????!!!!????")
    truncated_pem = pem[:len(pem) // 2] + b"\n-----END CERTIFICATE-----\n"
    empty_block = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    P = "/admin/certificates"
    run_table("malformed certificates", [
        ("not base64", "PUT", P, up(Certificate="@@@ not base64 @@@"), 400, ["base64"]),
        ("base64 of garbage", "PUT", P, up(Certificate=b64(b"hello, I am not a cert")),
         400, ["DER", "PEM", "PFX"]),
        ("PEM with a corrupt body", "PUT", P, up(Certificate=b64(bad_pem)), 400, ["PEM"]),
        ("truncated PEM", "PUT", P, up(Certificate=b64(truncated_pem)), 400, ["PEM"]),
        ("PEM block that is no certificate", "PUT", P, up(Certificate=b64(empty_block)),
         400, ["PEM", "certificate"]),
        ("truncated PFX", "PUT", P, up(Certificate=b64(pfx[:300]), Password="right"),
         400, ["PFX"]),
        ("empty Certificate", "PUT", P, up(Certificate=""), 400, ["Certificate"]),
        ("missing Certificate", "PUT", P, up(Certificate=None), 400, ["Certificate"]),
        ("wrong PFX password", "PUT", P, up(Certificate=b64(pfx), Password="wrong"),
         400, ["password"]),
        ("PFX password missing", "PUT", P, up(Certificate=b64(pfx)), 400, ["password"]),
        ("body not JSON", "PUT", P, b"{this is not json", 400, ["JSON"]),
        ("body not an object", "PUT", P, b"[1, 2]", 400, ["object"]),
    ])


def test_unknown_clearance_and_access_level():
    clearance = ["'God'", "ClusterAdmin", "Operator", "ValidUser"]
    access = ["'Owner'", "Admin", "ReadWrite", "Read"]
    E = "/admin/certificates/edit"
    run_table("unknown clearance/access", [
        ("upload: unknown clearance", "PUT", "/admin/certificates",
         up(SecurityClearance="God"), 400, clearance),
        ("upload: unknown access", "PUT", "/admin/certificates",
         up(Permissions={"hr": "Owner"}), 400, access),
        ("upload: access not a string", "PUT", "/admin/certificates",
         up(Permissions={"hr": 3}), 400, ["hr", "Admin", "ReadWrite", "Read"]),
        ("upload: Permissions not an object", "PUT", "/admin/certificates",
         up(Permissions=["hr"]), 400, ["Permissions"]),
        ("generate: unknown clearance", "POST", "/admin/certificates",
         {"Name": "g", "SecurityClearance": "God"}, 400, clearance),
        ("generate: unknown access", "POST", "/admin/certificates",
         {"Name": "g", "Permissions": {"hr": "Owner"}}, 400, access),
        ("edit: unknown clearance", "POST", E,
         {"Thumbprint": admin_thumb, "SecurityClearance": "God"}, 400, clearance),
        ("edit: unknown access", "POST", E,
         {"Thumbprint": admin_thumb, "Permissions": {"hr": "Owner"}}, 400, access),
    ])


def allowed_characters(msg):
    """which characters a database name may have"""
    return "letters" in msg and "digits" in msg


def test_invalid_database_names_and_empty_names():
    E = "/admin/certificates/edit"
    run_table("names", [
        ("create a database named 'bad name!'", "PUT", "/admin/databases",
         {"DatabaseName": "bad name!"}, 400, ["DatabaseName", allowed_characters]),
        ("create a database named ''", "PUT", "/admin/databases",
         {"DatabaseName": ""}, 400, ["DatabaseName", allowed_characters]),
        ("create a database named '.hidden'", "PUT", "/admin/databases",
         {"DatabaseName": ".hidden"}, 400, ["DatabaseName", "'.'"]),
        ("create a database with a 129-character name", "PUT", "/admin/databases",
         {"DatabaseName": "d" * 129}, 400, ["DatabaseName", "128"]),
        ("create a database that exists", "PUT", "/admin/databases",
         {"DatabaseName": "hr"}, 409, ["hr", "exists"]),
        ("delete the database 'bad!'", "DELETE", "/admin/databases?name=bad!", None, 400,
         ["name", allowed_characters]),
        ("put into the database 'bad!name'", "PUT", "/databases/bad!name/docs?id=x",
         {"a": 1}, 400, ["bad!name", allowed_characters]),
        ("permission for the database 'bad name!'", "PUT", "/admin/certificates",
         up(Permissions={"bad name!": "Read"}), 400, ["bad name!", allowed_characters]),
        ("generate with a permission for 'a/b'", "POST", "/admin/certificates",
         {"Name": "g", "Permissions": {"a/b": "Read"}}, 400, ["a/b", allowed_characters]),
        ("upload with an empty Name", "PUT", "/admin/certificates", up(Name=""), 400,
         ["Name", "empty"]),
        ("upload without a Name", "PUT", "/admin/certificates", up(Name=None), 400,
         ["Name"]),
        ("generate with an empty Name", "POST", "/admin/certificates", {"Name": ""}, 400,
         ["Name", "empty"]),
        ("edit to an empty Name", "POST", E, {"Thumbprint": admin_thumb, "Name": ""}, 400,
         ["Name", "empty"]),
        ("document without an id", "PUT", "/databases/hr/docs", {"a": 1}, 400, ["id"]),
        ("document that is not JSON", "PUT", "/databases/hr/docs?id=x", b"{nope", 400,
         ["JSON"]),
    ])


def states_the_limit(msg):
    """how large a body may be (4 MiB)"""
    return any(s in msg for s in ("4194304", "4 MiB", "4MiB", "4 MB"))


def chunked_request(node, path, chunks):
    """A body without Content-Length (chunked): the limit holds as it
    arrives."""
    host, port = node.url.replace("https://", "").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=cluster.admin.ctx,
                                       timeout=30)
    try:
        try:
            conn.request("PUT", path, body=iter(chunks),
                         headers={"Content-Type": "application/json"},
                         encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the node answered and closed before the end: read it
        resp = conn.getresponse()
        return Response(resp.status, resp.read(), dict(resp.getheaders()))
    finally:
        conn.close()


def test_body_over_the_limit():
    over = MAX_BODY + 1
    big_doc = b'{"a":"' + b"x" * (over - 8) + b'"}'
    big_upload = b'{"Name":"big","Certificate":"' + b"A" * (over - 31) + b'"}'
    assert len(big_doc) == over and len(big_upload) == over
    # Without a Content-Length, on every node.
    for n in cluster.running_nodes():
        before = snapshot(cluster)
        chunk = b"x" * 65536
        r = chunked_request(n, "/databases/hr/docs?id=chunked",
                            [b'{"a":"'] + [chunk] * (MAX_BODY // len(chunk) + 1) + [b'"}'])
        expect_error(r, 413, "too large", what="chunked body on node %d" % n.id)
        assert_unchanged(before, snapshot(cluster), "a chunked body over the limit")
    # Just under the limit is accepted: the limit is 4 MiB, not less.
    under = b'{"a":"' + b"y" * (MAX_BODY - 1024) + b'"}'
    expect(cluster.request_leader("PUT", "/databases/hr/docs?id=almost-4MiB", under), 201)
    expect(cluster.request_leader("DELETE", "/databases/hr/docs?id=almost-4MiB"), 200)
    # With a Content-Length: refused before the body is read.
    run_table("body limit", [
        ("a document of 4 MiB + 1", "PUT", "/databases/hr/docs?id=big", big_doc, 413,
         ["too large", states_the_limit]),
        ("an upload of 4 MiB + 1", "PUT", "/admin/certificates", big_upload, 413,
         ["too large", states_the_limit]),
    ])


def test_unknown_and_malformed_thumbprints():
    unknown = "AB" * 32
    lower = "cd" * 32
    E = "/admin/certificates/edit"
    run_table("thumbprints", [
        ("delete an unknown thumbprint", "DELETE",
         "/admin/certificates?thumbprint=" + unknown, None, 404, [unknown]),
        ("delete an unknown lower-case thumbprint", "DELETE",
         "/admin/certificates?thumbprint=" + lower, None, 404, [lower.upper()]),
        ("edit an unknown thumbprint", "POST", E, {"Thumbprint": unknown, "Name": "x"},
         404, [unknown]),
        ("disable an unknown thumbprint", "POST", E,
         {"Thumbprint": unknown, "Disabled": True}, 404, [unknown]),
        ("get an unknown thumbprint", "GET", "/admin/certificates?thumbprint=" + unknown,
         None, 404, [unknown]),
        ("delete a malformed thumbprint", "DELETE", "/admin/certificates?thumbprint=xyz",
         None, 400, ["64 hex"]),
        ("delete without a thumbprint", "DELETE", "/admin/certificates", None, 400,
         ["thumbprint"]),
        ("edit a malformed thumbprint", "POST", E, {"Thumbprint": "xyz", "Name": "x"},
         400, ["64 hex"]),
        ("edit without a thumbprint", "POST", E, {"Name": "x"}, 400, ["Thumbprint"]),
        ("edit with Disabled not a boolean", "POST", E,
         {"Thumbprint": admin_thumb, "Disabled": "yes"}, 400, ["Disabled", "true"]),
        ("delete an unknown database", "DELETE", "/admin/databases?name=nosuch", None, 404,
         ["nosuch"]),
        ("read from an unknown database", "GET", "/databases/nosuch/docs?id=x", None, 404,
         ["nosuch"]),
        ("delete an unknown document", "DELETE", "/databases/hr/docs?id=nosuch", None, 404,
         ["nosuch"]),
    ])


def test_bad_generate_options():
    G = "/admin/certificates"
    run_table("generate options", [
        ("NotAfter in the past", "POST", G, {"Name": "g", "NotAfter": "2001-01-01"}, 400,
         ["past", "future"]),
        ("NotAfter not a date", "POST", G, {"Name": "g", "NotAfter": "tomorrow"}, 400,
         ["NotAfter", "2030-01-31"]),
        ("NotAfter and ExpirationDays", "POST", G,
         {"Name": "g", "NotAfter": "2040-01-01", "ExpirationDays": 10}, 400,
         ["NotAfter", "ExpirationDays"]),
        ("ExpirationDays 0", "POST", G, {"Name": "g", "ExpirationDays": 0}, 400,
         ["ExpirationDays", "1"]),
        ("unknown KeyType", "POST", G, {"Name": "g", "KeyType": "DSA-512"}, 400,
         ["KeyType", "P-256", "RSA-4096"]),
        ("Name longer than a CN", "POST", G, {"Name": "n" * 65}, 400, ["Name", "64"]),
    ])


def test_unusual_but_valid_json_uploads():
    """Plain upload bodies skip jansson's lexer for the certificate; any
    other valid JSON (an escape in the value, the key twice: the last one
    counts) is parsed in full and registers the same certificate."""
    value = b64(pem)
    escaped = "\\u%04x" % ord(value[0]) + value[1:].replace("/", "\\/")
    thumb = thumbprint_of(crt_path)
    bodies = [
        '{"Name": "esc", "Certificate": "%s", "SecurityClearance": "ValidUser"}'
        % escaped,
        '{"Name": "dup", "Certificate": "QUJD", "Certificate": "%s"}' % value,
    ]
    for body in bodies:
        r = cluster.request_leader("PUT", "/admin/certificates", body.encode())
        assert r.status == 201, (body[:60], r)
        assert r.json()["Thumbprint"] == thumb, (body[:60], r.json())
        expect(cluster.request_leader("DELETE", "/admin/certificates?thumbprint=" + thumb),
               200)


def test_nodes_agree_after_all_the_bad_input():
    want = snapshot(cluster)
    assert set(want["databases"]) == {"hr"}, want["databases"]
    assert set(want["documents"]["hr"]) == {"keep"}, want["documents"]
    for n in cluster.running_nodes():
        wait_until("node %d to match the leader" % n.id,
                   lambda: snapshot(cluster, n) == want, timeout=15)


def main():
    global cluster, pem, pfx, admin_thumb, crt_path
    with Cluster(3) as c:
        cluster = c
        crt, key = c.new_cert("sample")
        pem = read(crt)
        crt_path = crt
        pfx = read(make_pfx(os.path.join(c.dir, "sample.pfx"), crt, key, password="right"))
        admin_thumb = thumbprint_of(c.admin_cert)
        expect(c.request_leader("PUT", "/admin/databases", {"DatabaseName": "hr"}), 201)
        expect(c.request_leader("PUT", "/databases/hr/docs?id=keep", {"k": 1}), 201)
        code = run_tests([
            test_malformed_certificates,
            test_unknown_clearance_and_access_level,
            test_invalid_database_names_and_empty_names,
            test_body_over_the_limit,
            test_unknown_and_malformed_thumbprints,
            test_bad_generate_options,
            test_unusual_but_valid_json_uploads,
            test_nodes_agree_after_all_the_bad_input,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
