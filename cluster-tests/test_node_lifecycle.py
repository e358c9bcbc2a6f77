#!/usr/bin/env python3
"""certnode's own commands: --help everywhere, init with the operator's
PFX as the cluster certificate, refusing to init over an existing node,
clear errors for a missing data directory, and private modes."""

import os
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile

from certraft_cluster import (Client, binary, free_ports, openssl, run_tests,
                              thumbprint_of, wait_until)

tmp = None


def certnode(*args, timeout=60):
    return subprocess.run([binary("certnode")] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def test_help_on_every_command():
    for args in (["--help"], ["init", "--help"], ["join", "--help"], ["run", "--help"]):
        p = certnode(*args)
        assert p.returncode == 0 and "usage:" in p.stdout, (args, p)
    p = certnode("frobnicate")
    assert p.returncode == 2 and "unknown command" in p.stderr, p
    p = certnode("init", "--data", os.path.join(tmp, "x"))
    assert p.returncode == 2 and "required" in p.stderr, p


def test_run_without_data_directory_says_what_to_do():
    p = certnode("run", "--data", os.path.join(tmp, "nothing-here"))
    assert p.returncode == 1, p
    assert "certnode init" in p.stderr and p.stderr.count("\n") == 1, p


def test_init_with_operator_pfx_serves_that_certificate():
    crt = os.path.join(tmp, "own.crt")
    key = os.path.join(tmp, "own.key")
    pfx = os.path.join(tmp, "own.pfx")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-days", "30",
            "-subj", "/CN=operator cluster", "-addext", "subjectAltName=IP:127.0.0.1")
    openssl("pkcs12", "-export", "-in", crt, "-inkey", key, "-out", pfx,
            "-passout", "pass:s3cret")
    raft_port, api_port = free_ports(2)
    data = os.path.join(tmp, "own-node")
    admin = os.path.join(tmp, "own-admin")
    bad = certnode("init", "--data", data, "--raft-address", "127.0.0.1:%d" % raft_port,
                   "--api-address", "127.0.0.1:%d" % api_port, "--admin-out", admin,
                   "--server-cert", pfx, "--password", "Wr0ngPw!")
    assert bad.returncode == 1 and "password" in bad.stderr.lower(), bad
    assert "Wr0ngPw!" not in bad.stderr and "s3cret" not in bad.stderr, bad
    shutil.rmtree(data, ignore_errors=True)
    p = certnode("init", "--data", data, "--raft-address", "127.0.0.1:%d" % raft_port,
                 "--api-address", "127.0.0.1:%d" % api_port, "--admin-out", admin,
                 "--server-cert", pfx, "--password", "s3cret")
    assert p.returncode == 0, p
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    proc = subprocess.Popen([binary("certnode"), "run", "--data", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        served = wait_until("the node to serve TLS", lambda: ssl.get_server_certificate(
            ("127.0.0.1", api_port)), timeout=10)
        served_der = ssl.PEM_cert_to_DER_cert(served)
        import hashlib
        assert hashlib.sha256(served_der).hexdigest().upper() == thumbprint_of(crt)
        c = Client(os.path.join(admin, "cluster-ca.crt"), os.path.join(admin, "admin.crt"),
                   os.path.join(admin, "admin.key"))
        who = wait_until("whoami", lambda: c.request("https://127.0.0.1:%d" % api_port,
                                                     "GET", "/certificates/whoami"))
        assert who.status == 200 and who.json()["SecurityClearance"] == "ClusterAdmin", who
        # The admin certificate was signed by the operator's certificate.
        assert who.json()["Issuer"] == "CN=operator cluster", who.json()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_init_refuses_an_existing_node():
    raft_port, api_port = free_ports(2)
    data = os.path.join(tmp, "twice")
    args = ["init", "--data", data, "--raft-address", "127.0.0.1:%d" % raft_port,
            "--api-address", "127.0.0.1:%d" % api_port, "--admin-out",
            os.path.join(tmp, "twice-admin")]
    assert certnode(*args).returncode == 0
    again = certnode(*args)
    assert again.returncode == 1 and "already holds a node" in again.stderr, again


def main():
    global tmp
    tmp = tempfile.mkdtemp(prefix="certraft-lifecycle-")
    try:
        code = run_tests([
            test_help_on_every_command,
            test_run_without_data_directory_says_what_to_do,
            test_init_with_operator_pfx_serves_that_certificate,
            test_init_refuses_an_existing_node,
        ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
