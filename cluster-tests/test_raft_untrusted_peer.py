#!/usr/bin/env python3
"""Raft traffic is TLS 1.3 with mutual authentication: a peer that
presents an untrusted certificate (or none) is refused at the handshake,
never reaches raft, and the cluster carries on committing."""

import socket
import ssl
import struct
import sys

from certraft_cluster import Cluster, run_tests, wait_until

cluster = None


def raft_conversation(node, cert=None, key=None):
    """Dial node's raft port as a would-be peer; return what happened."""
    host, port = node.raft_address.split(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection((host, int(port)), timeout=5)
    try:
        s = ctx.wrap_socket(raw)
        # TLS 1.3 lets the client finish before the server has judged its
        # certificate: the refusal arrives on the first read.
        address = b"127.0.0.1:9|https://127.0.0.1:9"
        pad = (8 - len(address) % 8) % 8
        s.sendall(struct.pack("<QQQ", 1, 99, len(address) + pad) + address + b"\0" * pad)
        data = s.recv(1)
        return "open" if data else "closed"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout) as exc:
        return "refused: %s" % exc
    finally:
        raw.close()


def test_untrusted_certificate_is_refused_at_handshake():
    crt, key = cluster.new_cert("rogue-node")
    for n in cluster.nodes.values():
        outcome = raft_conversation(n, crt, key)
        assert outcome != "open", "node %d let an untrusted peer in" % n.id
        wait_until("node %d to log the refusal" % n.id,
                   lambda: "refused peer" in n.log(), timeout=5)


def test_peer_without_certificate_is_refused():
    for n in cluster.nodes.values():
        assert raft_conversation(n) != "open"


def test_cluster_carries_on_after_refusals():
    leader_before = cluster.leader().id
    crt, _ = cluster.new_cert("after-rogue")
    r = cluster.request_leader("PUT", "/admin/certificates",
                               cluster.upload_body("after-rogue", crt))
    assert r.status == 201, r
    wait_until("all nodes to agree", cluster.registries_agree, timeout=10)
    assert cluster.leader().id == leader_before


def main():
    global cluster
    with Cluster(3) as c:
        cluster = c
        code = run_tests([
            test_untrusted_certificate_is_refused_at_handshake,
            test_peer_without_certificate_is_refused,
            test_cluster_carries_on_after_refusals,
        ], cluster)
    sys.exit(code)


if __name__ == "__main__":
    main()
