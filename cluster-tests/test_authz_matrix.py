#!/usr/bin/env python3
"""The authorization matrix against a running 3-node cluster: every
(caller clearance x operation x target clearance) case and every (access
level x database/document operation) case, with the status a user gets,
the JSON error of each refusal, the effect of each permitted operation,
and for each refusal a check that the registry, the databases and the
documents are exactly as before.

The rules (RavenDB's, DESIGN.md):
- ClusterAdmin: everything.
- Operator: every database at Admin; create/delete databases; manage
  Operator and ValidUser certificates; cannot generate, upload, edit (or
  raise to), disable or delete a ClusterAdmin or ClusterNode certificate.
- ValidUser: only its databases: Read reads and lists, ReadWrite also
  writes documents, Admin also the database's settings and tasks. No
  /admin endpoint at all, whatever its database access.
- Nobody deletes, disables or changes the clearance of the certificate it
  is connected with; the cluster's own certificate is never deleted or
  disabled (it is replaced instead).

Not covered because the server has no such endpoint yet: a database's
settings and tasks (ETL), the one thing database Admin adds over
ReadWrite. The matrix checks that Admin gets everything ReadWrite gets and,
like ReadWrite, no /admin endpoint.

Reads are asked of every node (each node authorizes locally); writes go to
the nodes in turn (a follower forwards them, the leader's apply()
decides). Each table collects every mismatch before failing, so one run
shows the whole picture.
"""

import itertools
import sys

from certraft_cluster import Cluster, run_tests, thumbprint_of, wait_until
from lifecycle_helpers import (assert_only_changed, assert_unchanged, der_of,
                               expect, expect_error, known_everywhere,
                               pfx_certificates, read, register, snapshot,
                               unzip_generated, upload_body)

CA, OP, VU, CN = "ClusterAdmin", "Operator", "ValidUser", "ClusterNode"
CALLERS = [CA, OP, VU]
TARGETS = [CA, OP, VU, CN]

cluster = None
leader = None
who = {}       # caller label -> (client, thumbprint)
serial = itertools.count(1)
rotation = itertools.count()


def may_manage(caller, target):
    return caller == CA or (caller == OP and target in (OP, VU))


def next_node():
    nodes = sorted(cluster.running_nodes(), key=lambda n: n.id)
    return nodes[next(rotation) % len(nodes)]


def fresh(clearance, permissions=None):
    """A new certificate of `clearance`, registered by the ClusterAdmin."""
    name = "t%d-%s" % (next(serial), clearance)
    thumb, crt, key = register(cluster, name, clearance, permissions)
    return name, thumb, crt, key


class Table:
    """Runs cases and collects the mismatches of one table."""

    def __init__(self, title):
        self.title = title
        self.failures = []
        self.cases = 0

    def write_case(self, label, caller, method, path, body, allowed, ok_status,
                   effect=None, refusal_words=()):
        """One write by `caller`: on success `effect(before, after, resp)`
        checks what changed; on refusal, 403 and nothing changed."""
        self.cases += 1
        client = who[caller][0]
        node = next_node()
        before = snapshot(cluster, leader)
        r = client.request(node.url, method, path, body)
        after = snapshot(cluster, leader)
        try:
            if allowed:
                expect(r, ok_status, label)
                if effect is not None:
                    effect(before, after, r)
            else:
                expect_error(r, 403, *refusal_words, what=label)
                assert_unchanged(before, after, label)
        except AssertionError as exc:
            self.failures.append("%s [%s via node %d]: %s" % (label, caller, node.id, exc))
        return r

    def read_case(self, label, caller, path, allowed, check=None, refusal_words=(),
                  refusal_status=403):
        """One read by `caller`, asked of every node."""
        for node in sorted(cluster.running_nodes(), key=lambda n: n.id):
            self.cases += 1
            r = who[caller][0].request(node.url, "GET", path)
            try:
                if allowed:
                    expect(r, 200, label)
                    if check is not None:
                        check(r)
                else:
                    expect_error(r, refusal_status, *refusal_words, what=label)
            except AssertionError as exc:
                self.failures.append("%s [%s on node %d]: %s" % (label, caller, node.id, exc))

    def done(self):
        print("    %s: %d cases, %d mismatches" % (self.title, self.cases, len(self.failures)))
        if self.failures:
            raise AssertionError("%d of %d %s cases are wrong:\n  %s" % (
                len(self.failures), self.cases, self.title, "\n  ".join(self.failures)))


# --- effects of permitted operations ------------------------------------------

def added(thumb_of_resp, name, clearance):
    def effect(before, after, r):
        thumb = thumb_of_resp(r)
        assert thumb not in before["certs"], "already registered before"
        e = after["certs"].get(thumb)
        assert e is not None, "%s missing from the listing" % thumb
        assert e["Name"] == name and e["SecurityClearance"] == clearance, e
        assert_only_changed(before, after, "certs", [thumb], "registering")
    return effect


def edited(thumb, **fields):
    def effect(before, after, r):
        e = after["certs"].get(thumb)
        assert e is not None, "%s vanished" % thumb
        for k, v in fields.items():
            assert e[k] == v, "%s: expected %r, got %r" % (k, v, e[k])
        old = dict(before["certs"][thumb])
        old.update(fields)
        assert e == old, "other fields changed: %r -> %r" % (before["certs"][thumb], e)
        assert r.json()["Thumbprint"] == thumb, r
        assert_only_changed(before, after, "certs", [thumb], "editing")
    return effect


def whoami_status(crt, key):
    return cluster.client(crt, key).request(leader.url, "GET", "/certificates/whoami")


# --- certificate operations with a target ------------------------------------

def test_upload_and_generate_by_clearance():
    t = Table("upload/generate")
    for caller, target in itertools.product(CALLERS, TARGETS):
        allowed = may_manage(caller, target)
        words = ("Operator",) if caller == VU else ("ClusterAdmin",)
        # upload a new certificate of clearance `target`
        name = "up%d-%s" % (next(serial), target)
        crt, _ = cluster.new_cert(name)
        t.write_case("upload a %s certificate" % target, caller, "PUT",
                     "/admin/certificates", upload_body(name, read(crt), target),
                     allowed, 201, added(lambda r: r.json()["Thumbprint"], name, target),
                     words)
        # generate one
        name = "gen%d-%s" % (next(serial), target)
        # (the thumbprint is the zip's certificate's: the header is checked
        # in test_lifecycle_e2e, through every node)
        t.write_case("generate a %s certificate" % target, caller, "POST",
                     "/admin/certificates",
                     {"Name": name, "SecurityClearance": target, "Permissions": {}},
                     allowed, 201,
                     added(lambda r, name=name: thumbprint_of(
                         unzip_generated(r, cluster.dir, name, check_header=False)[0]),
                         name, target),
                     words)
    t.done()


def test_edit_disable_enable_delete_by_clearance():
    t = Table("edit/disable/enable/delete")
    for caller, target in itertools.product(CALLERS, TARGETS):
        allowed = may_manage(caller, target)
        words = ("Operator",) if caller == VU else ("ClusterAdmin",)

        # edit: rename and change permissions
        name, thumb, crt, key = fresh(target)
        t.write_case("edit a %s certificate" % target, caller, "POST",
                     "/admin/certificates/edit",
                     {"Thumbprint": thumb, "Name": name + "-renamed",
                      "Permissions": {"hr": "Read"}},
                     allowed, 200,
                     edited(thumb, Name=name + "-renamed", Permissions={"hr": "Read"}),
                     words)

        # disable: the target is then refused
        name, thumb, crt, key = fresh(target)

        def disabled(before, after, r, thumb=thumb, crt=crt, key=key):
            edited(thumb, Disabled=True)(before, after, r)
            expect_error(whoami_status(crt, key), 403, "disabled", what="a disabled cert")
        t.write_case("disable a %s certificate" % target, caller, "POST",
                     "/admin/certificates/edit", {"Thumbprint": thumb, "Disabled": True},
                     allowed, 200, disabled, words)

        # enable a disabled one: the target works again
        name, thumb, crt, key = fresh(target)
        expect(cluster.request_leader("POST", "/admin/certificates/edit",
                                      {"Thumbprint": thumb, "Disabled": True}), 200)

        def enabled(before, after, r, thumb=thumb, crt=crt, key=key):
            edited(thumb, Disabled=False)(before, after, r)
            expect(whoami_status(crt, key), 200, "an enabled cert")
        t.write_case("enable a %s certificate" % target, caller, "POST",
                     "/admin/certificates/edit", {"Thumbprint": thumb, "Disabled": False},
                     allowed, 200, enabled, words)

        # delete: gone from the listing, refused from then on
        name, thumb, crt, key = fresh(target)

        def deleted(before, after, r, thumb=thumb, crt=crt, key=key):
            assert thumb in before["certs"] and thumb not in after["certs"], thumb
            assert_only_changed(before, after, "certs", [thumb], "deleting")
            expect_error(whoami_status(crt, key), 403, thumb, what="a deleted cert")
        t.write_case("delete a %s certificate" % target, caller, "DELETE",
                     "/admin/certificates?thumbprint=" + thumb, None,
                     allowed, 200, deleted, words)
    t.done()


def test_change_clearance_by_clearance():
    """Raising (and lowering) a certificate's clearance needs the right to
    manage both the old and the new clearance."""
    t = Table("set clearance")
    for caller in CALLERS:
        for old, new in itertools.permutations(TARGETS, 2):
            allowed = may_manage(caller, old) and may_manage(caller, new)
            words = ("Operator",) if caller == VU else ("ClusterAdmin",)
            name, thumb, crt, key = fresh(old)
            t.write_case("change %s to %s" % (old, new), caller, "POST",
                         "/admin/certificates/edit",
                         {"Thumbprint": thumb, "SecurityClearance": new},
                         allowed, 200, edited(thumb, SecurityClearance=new), words)
    t.done()


def test_nobody_touches_own_certificate_or_the_cluster_certificate():
    t = Table("own/cluster certificate")
    cluster_thumb = thumbprint_of(cluster.nodes[1].data + "/cluster.crt")
    for caller in CALLERS:
        own = who[caller][1]
        words = ("Operator",) if caller == VU else ("connected with",)
        t.write_case("delete own certificate", caller, "DELETE",
                     "/admin/certificates?thumbprint=" + own, None, False, 200,
                     refusal_words=words)
        t.write_case("disable own certificate", caller, "POST", "/admin/certificates/edit",
                     {"Thumbprint": own, "Disabled": True}, False, 200,
                     refusal_words=words)
        other = {CA: VU, OP: CA, VU: OP}[caller]  # lower or raise oneself
        t.write_case("change own clearance to %s" % other, caller, "POST",
                     "/admin/certificates/edit",
                     {"Thumbprint": own, "SecurityClearance": other}, False, 200,
                     refusal_words=("Operator",) if caller == VU else ())
        # The cluster's own certificate: replaced, never deleted or disabled.
        words = {CA: ("cluster certificate",), OP: ("ClusterAdmin",),
                 VU: ("Operator",)}[caller]
        t.write_case("delete the cluster certificate", caller, "DELETE",
                     "/admin/certificates?thumbprint=" + cluster_thumb, None, False, 200,
                     refusal_words=words)
        t.write_case("disable the cluster certificate", caller, "POST",
                     "/admin/certificates/edit",
                     {"Thumbprint": cluster_thumb, "Disabled": True}, False, 200,
                     refusal_words=words)
        t.write_case("lower the cluster certificate", caller, "POST",
                     "/admin/certificates/edit",
                     {"Thumbprint": cluster_thumb, "SecurityClearance": VU}, False, 200,
                     refusal_words=words)
    # Each caller still works, and the cluster certificate is untouched.
    for caller in CALLERS:
        expect(who[caller][0].request(leader.url, "GET", "/certificates/whoami"), 200, caller)
    e = snapshot(cluster, leader)["certs"][cluster_thumb]
    assert e["SecurityClearance"] == CN and not e["Disabled"], e
    t.done()


# --- reads: list, export, audit, whoami, purge -------------------------------

def test_admin_reads_by_clearance():
    t = Table("admin reads")
    snap = converged()
    primaries = sorted(k for k, e in snap["certs"].items() if not e["CollectionPrimaryKey"])
    cluster_der = der_of(cluster.nodes[1].data + "/cluster.crt")

    def listing(r):
        got = sorted(e["Thumbprint"] for e in r.json()["Results"])
        assert got == primaries, "listing differs from the registry"

    def export(r):
        assert r.headers.get("Content-Type") == "application/x-pkcs12", r.headers
        ders, has_key = pfx_certificates(r.body, "")
        assert ders == [cluster_der], "export should hold exactly the cluster certificate"
        assert not has_key, "export must not contain a private key"

    def audit(r):
        body = r.json()
        assert body["Total"] >= len(body["Results"]) > 0, body

    for caller in CALLERS + ["stranger"]:
        if caller == "stranger":
            words_op = words_ca = ("unknown certificate",)
        else:
            words_op, words_ca = ("Operator",), ("ClusterAdmin",)
        t.read_case("list certificates", caller, "/admin/certificates",
                    caller in (CA, OP), listing, words_op)
        t.read_case("export the cluster certificate", caller,
                    "/admin/certificates/export", caller in (CA, OP), export, words_op)
        t.read_case("read the audit", caller, "/admin/audit", caller == CA, audit, words_ca)
        if caller != "stranger":
            def whoami(r, caller=caller):
                assert r.json()["Thumbprint"] == who[caller][1], r
            t.read_case("whoami", caller, "/certificates/whoami", True, whoami)
    # purge is an /admin endpoint too: a ValidUser (even a database Admin)
    # is refused before anything happens.
    t.write_case("purge", VU, "DELETE", "/admin/certificates/purge", None, False, 200,
                 refusal_words=("Operator",))
    assert_unchanged(snap, snapshot(cluster, leader), "the admin reads")
    t.done()


# --- databases ------------------------------------------------------------

def test_database_operations_by_clearance():
    """Creating and deleting databases is Operator work: a ValidUser with
    Admin on that very database may not."""
    t = Table("databases")
    for caller in CALLERS:
        allowed = caller in (CA, OP)
        db = "new%d" % next(serial)
        if caller == VU:
            # the ValidUser holds Admin on `db` and on "hr"
            expect(cluster.request_leader("POST", "/admin/certificates/edit", {
                "Thumbprint": who[VU][1],
                "Permissions": {"hr": "Admin", db: "Admin"}}), 200)

        def created(before, after, r, db=db):
            assert db not in before["databases"] and db in after["databases"], db
            assert after["documents"][db] == {}, after["documents"][db]
            assert after["databases"][db]["Documents"] == 0, after["databases"][db]
            assert_only_changed(before, after, "databases", [db], "create")
            assert r.json()["Name"] == db, r
        t.write_case("create database", caller, "PUT", "/admin/databases",
                     {"DatabaseName": db}, allowed, 201, created, ("Operator",))
        if not allowed:
            expect(cluster.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
        # delete it again (with a document in it)
        expect(cluster.request_leader("PUT", "/databases/%s/docs?id=d1" % db, {"x": 1}), 201)

        def dropped(before, after, r, db=db):
            assert db in before["databases"] and db not in after["databases"], db
            assert db not in after["documents"], after["documents"].get(db)
            b, a = dict(before), dict(after)
            b["documents"] = {k: v for k, v in b["documents"].items() if k != db}
            assert_only_changed(b, a, "databases", [db], "delete")
        t.write_case("delete database", caller, "DELETE", "/admin/databases?name=" + db,
                     None, allowed, 200, dropped, ("Operator",))
    # restore the ValidUser's permissions for the other tables
    expect(cluster.request_leader("POST", "/admin/certificates/edit", {
        "Thumbprint": who[VU][1], "Permissions": {"hr": "Admin"}}), 200)
    t.done()


# --- documents by access level ------------------------------------------------

ACCESS = {  # label -> (clearance, permissions) of the caller
    CA: None, OP: None,
    "db Admin": (VU, {"hr": "Admin"}),
    "db ReadWrite": (VU, {"hr": "ReadWrite"}),
    "db Read": (VU, {"hr": "Read"}),
    "no access": (VU, {"fin": "ReadWrite"}),
}
RANK = {CA: 3, OP: 3, "db Admin": 3, "db ReadWrite": 2, "db Read": 1, "no access": 0}


def test_database_list_by_access_level():
    t = Table("database list")
    dbs = snapshot(cluster, leader)["databases"]
    for label in ACCESS:
        if label in (CA, OP):
            want = {name: "Admin" for name in dbs}
        else:
            want = {db: lvl for db, lvl in ACCESS[label][1].items() if db in dbs}

        def check(r, want=want):
            got = {d["Name"]: d["Access"] for d in r.json()["Databases"]}
            assert got == want, "expected %r, got %r" % (want, got)
        t.read_case("list databases", label, "/databases", True, check)
    t.done()


def test_document_operations_by_access_level():
    t = Table("documents")
    doc = {"Name": "Ada", "Dept": "hr"}
    expect(cluster.request_leader("PUT", "/databases/hr/docs?id=employees/seed", doc), 201)
    wait_until("the seed document on every node", lambda: all(
        cluster.admin.request(n.url, "GET", "/databases/hr/docs?id=employees/seed").status == 200
        for n in cluster.running_nodes()), timeout=10)
    all_docs = snapshot(cluster, leader)["documents"]["hr"]
    assert all_docs.get("employees/seed") == doc, all_docs

    def got_doc(r):
        assert r.json() == doc, r

    def got_list(r):
        got = {d["Id"]: d["Document"] for d in r.json()["Results"]}
        assert got == all_docs, "expected %r, got %r" % (all_docs, got)

    # Reads first, on every node, while the documents stay as they are.
    for label in ACCESS:
        reads = RANK[label] >= 1
        need_r = ("hr", "Read") if label == "no access" else ()
        t.read_case("get a document", label, "/databases/hr/docs?id=employees/seed",
                    reads, got_doc, need_r)
        t.read_case("list documents", label, "/databases/hr/docs", reads, got_list, need_r)
        t.read_case("list documents by prefix", label,
                    "/databases/hr/docs?startsWith=employees/", reads, got_list, need_r)
        if label not in (CA, OP):
            t.read_case("get a document of a database it lacks", label,
                        "/databases/other/docs?id=x", False, refusal_words=("other",))
            t.read_case("list certificates", label, "/admin/certificates", False,
                        refusal_words=("Operator",))

    # Then the writes, through the nodes in turn.
    for label in ACCESS:
        writes = RANK[label] >= 2
        need_w = ("hr", "ReadWrite")
        new_id = "employees/%d" % next(serial)
        body = {"Name": "new", "By": label}

        def put(before, after, r, new_id=new_id, body=body):
            assert new_id not in before["documents"]["hr"], new_id
            b = dict(before["documents"]["hr"])
            b[new_id] = body
            assert after["documents"]["hr"] == b, "expected %r, got %r" % (
                b, after["documents"]["hr"])
            assert r.json() == {"Id": new_id}, r
            assert_only_changed(before, after, "documents", ["hr"], "put")
        t.write_case("put a document", label, "PUT",
                     "/databases/hr/docs?id=" + new_id, body, writes, 201, put, need_w)

        def overwritten(before, after, r):
            b = dict(before["documents"]["hr"])
            b["employees/seed"] = {"Name": "Mallory"}
            assert after["documents"]["hr"] == b, "expected %r, got %r" % (
                b, after["documents"]["hr"])
        t.write_case("overwrite a document", label, "PUT",
                     "/databases/hr/docs?id=employees/seed", {"Name": "Mallory"},
                     writes, 201, overwritten, need_w)
        if writes:  # put the seed back for the next caller
            expect(cluster.request_leader("PUT", "/databases/hr/docs?id=employees/seed",
                                          doc), 201)

        victim = "victims/%d" % next(serial)
        expect(cluster.request_leader("PUT", "/databases/hr/docs?id=" + victim, {"v": 1}), 201)

        def removed(before, after, r, victim=victim):
            assert victim in before["documents"]["hr"], victim
            b = dict(before["documents"]["hr"])
            del b[victim]
            assert after["documents"]["hr"] == b, "expected %r, got %r" % (
                b, after["documents"]["hr"])
            assert_only_changed(before, after, "documents", ["hr"], "delete")
        t.write_case("delete a document", label, "DELETE",
                     "/databases/hr/docs?id=" + victim, None, writes, 200, removed, need_w)
        if not writes:
            expect(cluster.request_leader("DELETE", "/databases/hr/docs?id=" + victim), 200)

        # never another database's documents, nor /admin
        if label not in (CA, OP):
            t.write_case("put into a database it lacks", label, "PUT",
                         "/databases/other/docs?id=x", {"a": 1}, False, 201,
                         refusal_words=("other",))
            t.write_case("create a database", label, "PUT", "/admin/databases",
                         {"DatabaseName": "by-%d" % next(serial)}, False, 201,
                         refusal_words=("Operator",))
            t.write_case("delete its database", label, "DELETE", "/admin/databases?name=hr",
                         None, False, 200, refusal_words=("Operator",))
    t.done()


def converged():
    """Wait until every node shows what the leader shows; return that."""
    want = snapshot(cluster, leader)
    for n in cluster.running_nodes():
        wait_until("node %d to match the leader" % n.id,
                   lambda: snapshot(cluster, n) == want, timeout=15)
    return want


def test_every_node_ends_with_the_same_state():
    """Refused writes were refused everywhere: the nodes agree."""
    converged()


def setup():
    global leader
    leader = cluster.leader()
    for db in ("hr", "fin", "other"):
        expect(cluster.request_leader("PUT", "/admin/databases", {"DatabaseName": db}), 201)
    who[CA] = (cluster.admin, thumbprint_of(cluster.admin_cert))
    certs = []
    for label, spec in [(OP, (OP, {})), (VU, (VU, {"hr": "Admin"}))] + [
            (k, v) for k, v in ACCESS.items() if v is not None] + [("stranger", None)]:
        if label == "stranger":
            crt, key = cluster.new_cert("stranger")
            who[label] = (cluster.client(crt, key), thumbprint_of(crt))
            continue
        clearance, perms = spec
        thumb, crt, key = register(cluster, "caller-" + label.replace(" ", "-"),
                                   clearance, perms)
        who[label] = (cluster.client(crt, key), thumb)
        certs.append((crt, key))
    for crt, key in certs:
        known_everywhere(cluster, crt, key)


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        setup()
        code = run_tests([
            test_admin_reads_by_clearance,
            test_database_list_by_access_level,
            test_document_operations_by_access_level,
            test_upload_and_generate_by_clearance,
            test_edit_disable_enable_delete_by_clearance,
            test_change_clearance_by_clearance,
            test_nobody_touches_own_certificate_or_the_cluster_certificate,
            test_database_operations_by_clearance,
            test_every_node_ends_with_the_same_state,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
