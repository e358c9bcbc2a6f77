#!/usr/bin/env bash
# certctl_cli_test.sh - black-box tests of the built certctl binary.
#
# Usage: tests/certctl_cli_test.sh PATH_TO_CERTCTL   (or CERTCTL=... in env)
#
# Part 1 needs nothing but the binary: --help of every command, usage
# errors (exit 2) and unreachable nodes (exit 1, one line). Part 2 starts
# two fake nodes (python3 http.server + ssl, mutual TLS, certificates made
# with the openssl CLI) that answer from a route table and log every
# request, to check output formats, fail-over, leader routing, query
# encoding, request bodies, error messages, and the files certctl writes
# (generated certificates unpacked from a zip, exported PFX: mode 0600,
# never overwritten). Part 2 is skipped when python3 or openssl is missing.
#
# Exits non-zero when any test failed; the last line is "N passed, N failed".
set -u

CERTCTL_BIN=${1:-${CERTCTL:-}}
if [ -z "$CERTCTL_BIN" ] || [ ! -x "$CERTCTL_BIN" ]; then
    echo "usage: $0 PATH_TO_CERTCTL" >&2
    exit 2
fi
# Absolute, as some tests run certctl from another directory.
CERTCTL_BIN=$(cd "$(dirname "$CERTCTL_BIN")" && pwd)/$(basename "$CERTCTL_BIN")
# Nothing from the caller's environment may leak into the runs.
unset CERTCTL_URL CERTCTL_CERT CERTCTL_KEY CERTCTL_PFX CERTCTL_PASSWORD \
      CERTCTL_CACERT CERTCTL_INSECURE CERTCTL_OUTPUT CERTCTL_TIMEOUT

TMP=$(mktemp -d)
SERVER_PIDS=()
cleanup() {
    local p
    for p in "${SERVER_PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
ALL_OUTPUT=$TMP/all-output # everything certctl printed, for the leak check
: >"$ALL_OUTPUT"

# run ARGS...: runs certctl; sets RC, and OUT/ERR to its stdout/stderr.
run() {
    "$CERTCTL_BIN" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
    cat "$TMP/out" "$TMP/err" >>"$ALL_OUTPUT"
}

say() { echo "    $*"; }
show() { say "exit $RC"; sed 's/^/    stdout| /' "$TMP/out"; sed 's/^/    stderr| /' "$TMP/err"; }
want_rc() { [ "$RC" -eq "$1" ] || { say "expected exit $1"; show; return 1; }; }
want_out() { grep -Eq -- "$1" "$TMP/out" || { say "stdout lacks /$1/"; show; return 1; }; }
want_err() { grep -Eq -- "$1" "$TMP/err" || { say "stderr lacks /$1/"; show; return 1; }; }
want_err_lines() {
    local n
    n=$(wc -l <"$TMP/err")
    [ "$n" -eq "$1" ] || { say "expected $1 stderr line(s), got $n"; show; return 1; }
}
want_equal() { [ "$1" = "$2" ] || { say "expected '$2', got '$1'"; return 1; }; }

# t NAME FUNCTION [ARGS...]: runs one test and counts it.
t() {
    local name=$1
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        echo "ok   $name"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $name"
    fi
}

# ---- part 1: no server ----------------------------------------------------

# "group command|options the help must mention"; "" is the top level.
HELP_CASES=(
    "|--url --cert --key --pfx --password --cacert --insecure --output --timeout CERTCTL_URL CERTCTL_CERT CERTCTL_KEY CERTCTL_PFX CERTCTL_PASSWORD CERTCTL_CACERT CERTCTL_OUTPUT"
    "cluster|status add-node remove-node transfer-leadership renew-cert replace-cert rotation-status"
    "certs|upload generate list edit delete purge export-server whoami"
    "db|create delete list"
    "docs|put get delete list"
    "cluster status|--help"
    "cluster add-node|--id --raft-address --api-url --thumbprint --no-wait --wait-timeout"
    "cluster remove-node|--id"
    "cluster transfer-leadership|--id"
    "certs upload|--name --file --password --clearance --perm ClusterAdmin Operator ValidUser Admin ReadWrite Read"
    "certs list|--thumbprint --name --secondary --expiring-within-days"
    "certs delete|--thumbprint"
    "certs whoami|--help"
    "certs generate|--name --clearance --perm --password --days --not-after --key-type --out --zip ValidUser P-256 P-384 RSA-2048 RSA-3072 RSA-4096 0600"
    "certs edit|--thumbprint --name --clearance --perm --no-perms --disable --enable"
    "certs purge|--help"
    "certs export-server|--out --force cluster-certificates.pfx 0600"
    "db create|--name NAME"
    "db delete|--name NAME"
    "db list|--help"
    "docs put|--db --id --data --file"
    "docs get|--db --id"
    "docs delete|--db --id"
    "docs list|--db --prefix --start --page-size"
    "audit|--start --page-size"
    "client-ca|put patch list get delete"
    "client-ca put|--name --file --clearance --perm ClusterAdmin Operator ValidUser NAME"
    "client-ca patch|--name --file --mode APPEND REPLACE --clearance --perm --no-perms"
    "client-ca list|--help"
    "client-ca get|--name --pem NOT_SET PENDING IS_SET FAILED"
    "client-ca delete|--name"
    "cluster renew-cert|--days --now --wait --wait-timeout --cacert-out"
    "cluster replace-cert|--file --password --now --wait --wait-timeout --cacert-out"
    "cluster rotation-status|Installed Confirming Switching Done"
)

help_case() {
    local words=$1 opts=$2 flag o
    for flag in --help -h; do
        # shellcheck disable=SC2086
        run $words $flag
        want_rc 0 || return 1
        want_out "^Usage: certctl" || return 1
        want_out "^Example" || return 1
        [ -z "$ERR" ] || { say "stderr not empty"; show; return 1; }
        for o in $opts; do
            grep -Fq -- "$o" "$TMP/out" || { say "help of '$words' does not mention $o"; return 1; }
        done
    done
}

for c in "${HELP_CASES[@]}"; do
    t "help '${c%%|*}'" help_case "${c%%|*}" "${c#*|}"
done

main_help_lists_all() {
    local c
    run --help
    for c in "cluster status" "certs generate" "certs edit" "certs purge" "certs export-server" \
        "cluster renew-cert" "cluster replace-cert" "cluster rotation-status" \
        "client-ca put" "client-ca patch" "client-ca list" "client-ca get" "client-ca delete" \
        "db create" "db delete" "db list" "docs put" "docs get" "docs delete" "docs list" "audit"; do
        want_out "^  $c  " || return 1
    done
}
t "main help lists every command" main_help_lists_all

help_ignores_bad_env() {
    CERTCTL_OUTPUT=xml CERTCTL_TIMEOUT=x run certs list --help
    want_rc 0
}
t "command help works whatever the environment holds" help_ignores_bad_env

# usage_error WANT_STDERR_LINE1 WANT_SEE ARGS...: exit 2, two stderr lines.
usage_error() {
    local reason=$1 see=$2
    shift 2
    run "$@"
    want_rc 2 || return 1
    want_err_lines 2 || return 1
    want_err "^certctl: $reason" || return 1
    want_err "^see certctl ${see}--help\$" || return 1
    [ -z "$OUT" ] || { say "stdout not empty"; show; return 1; }
}

touch "$TMP/dummy.pem" "$TMP/dummy.key"
DUMMY=(--cert "$TMP/dummy.pem" --key "$TMP/dummy.key")
THUMB=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08

t "no arguments" usage_error "missing command group" ""
t "unknown group" usage_error "unknown command group 'nodes'" "" nodes list
t "missing command" usage_error "missing command after 'certs'" "certs " certs
t "unknown command" usage_error "unknown command 'bogus' in group 'certs'" "certs " certs bogus
t "unknown global option" usage_error "unknown option --bogus" "" --bogus certs list
t "unknown command option" usage_error "unknown option --bogus" "cluster status " cluster status --bogus
t "no prefix matching" usage_error "unknown option --thumb" "certs delete " certs delete --thumb T
t "stray argument" usage_error "unexpected argument 'extra'" "certs whoami " certs whoami extra
t "global option after command" usage_error "--url is a global option" "certs list " \
    certs list --url https://127.0.0.1:1
t "global option with value after command" usage_error "--password is a global option: put it before 'certs' \\(certctl --password \\.\\.\\. certs list\\)" \
    "certs list " certs list --password=pw-Never-Show
t "unknown short option with value" usage_error "unknown option -p$" "certs list " certs list -p=pw-Never-Show
t "missing required option" usage_error "missing required option --thumbprint" "certs delete " certs delete
t "missing option value" usage_error "--name needs a value" "certs list " certs list --name
t "unknown clearance" usage_error \
    "invalid value 'Root' for --clearance \\(allowed: ClusterAdmin, Operator, ValidUser\\)" \
    "certs upload " certs upload --name a --file "$TMP/dummy.pem" --clearance Root
t "unknown access level" usage_error \
    "invalid access level 'Write' for database 'db' \\(allowed: Admin, ReadWrite, Read\\)" \
    "certs upload " certs upload --name a --file "$TMP/dummy.pem" --perm db=Write
t "malformed --perm" usage_error "invalid --perm 'db' \\(expected DB=LEVEL\\)" "certs upload " \
    certs upload --name a --file "$TMP/dummy.pem" --perm db
t "duplicate database" usage_error "database 'db' given twice" "certs upload " \
    certs upload --name a --file "$TMP/dummy.pem" --perm db=Read --perm db=Admin
t "bad node id" usage_error "invalid --id '0'" "cluster remove-node " cluster remove-node --id 0
t "bad node id text" usage_error "invalid --id 'four'" "cluster transfer-leadership " \
    cluster transfer-leadership --id four
t "bad raft address" usage_error "invalid --raft-address" "cluster add-node " \
    cluster add-node --id 4 --raft-address nohost --api-url https://127.0.0.1:8004 --thumbprint $THUMB
t "bad thumbprint" usage_error "invalid --thumbprint \\(expected 64 hex digits\\)" "cluster add-node " \
    cluster add-node --id 4 --raft-address 127.0.0.1:7004 --api-url https://127.0.0.1:8004 --thumbprint XYZ
t "bad expiring days" usage_error "invalid --expiring-within-days" "certs list " \
    certs list --expiring-within-days -1
t "bad output" usage_error "invalid value 'xml' for --output \\(allowed: table, json\\)" "" \
    --output xml certs list
# The commands added with the database and lifecycle endpoints.
GEN=(certs generate --name n)
t "generate: bad --perm level" usage_error \
    "invalid access level 'Owner' for database 'db' \\(allowed: Admin, ReadWrite, Read\\)" \
    "certs generate " "${GEN[@]}" --perm db=Owner
t "generate: --days and --not-after" usage_error "give either --days or --not-after, not both" \
    "certs generate " "${GEN[@]}" --days 3 --not-after 2030-01-31
t "generate: bad --not-after" usage_error "invalid --not-after '2030-02-30'" "certs generate " \
    "${GEN[@]}" --not-after 2030-02-30
t "generate: bad --not-after time" usage_error "invalid --not-after '2030-01-31T24:00:00Z'" \
    "certs generate " "${GEN[@]}" --not-after 2030-01-31T24:00:00Z
t "generate: bad --days" usage_error "invalid --days '0'" "certs generate " "${GEN[@]}" --days 0
t "generate: bad --key-type" usage_error "invalid value 'P-521' for --key-type" \
    "certs generate " "${GEN[@]}" --key-type P-521
t "generate: secret --password not echoed" usage_error "invalid --days" "certs generate " \
    "${GEN[@]}" --password pw-Never-Show --days x
t "edit: nothing to change" usage_error "nothing to change" "certs edit " certs edit --thumbprint T
t "edit: --perm and --no-perms" usage_error "--perm and --no-perms contradict" "certs edit " \
    certs edit --thumbprint T --perm db=Read --no-perms
t "edit: --disable and --enable" usage_error "--disable and --enable contradict" "certs edit " \
    certs edit --thumbprint T --disable --enable
t "edit: bad --perm level" usage_error "invalid access level 'Write'" "certs edit " \
    certs edit --thumbprint T --perm db=Write
t "db create: no name" usage_error "missing NAME \\(give it as the argument or as --name\\)" \
    "db create " db create
t "db create: two names" usage_error "unexpected argument 'b'" "db create " db create a b
t "db create: name twice" usage_error "NAME and --name both given" "db create " \
    db create --name a b
t "db delete: option after the name still checked" usage_error "unknown option --bogus" \
    "db delete " db delete a --bogus
t "docs put: invalid JSON" usage_error \
    "invalid JSON in --data: .*\\(line 1, column [0-9]+\\)$" "docs put " \
    --url https://127.0.0.1:1 "${DUMMY[@]}" docs put --db d --id i --data '{"a": '
t "docs put: trailing garbage" usage_error "invalid JSON in --data: end of file expected" \
    "docs put " docs put --db d --id i --data '{} x'
t "docs put: no document" usage_error "give the document as either --data or --file" \
    "docs put " docs put --db d --id i
t "docs put: two documents" usage_error "give the document as either --data or --file" \
    "docs put " docs put --db d --id i --data 1 --file x
invalid_json_stdin() {
    echo '[1, 2' | usage_error "invalid JSON in --file: " "docs put " docs put --db d --id i --file -
}
t "docs put: invalid JSON on stdin" invalid_json_stdin
unreadable_doc() {
    run --url https://127.0.0.1:1 "${DUMMY[@]}" docs put --db d --id i --file "$TMP/absent.json"
    want_rc 1 && want_err_lines 1 && want_err "^certctl: cannot read --file '.*absent.json'"
}
t "docs put: unreadable --file" unreadable_doc
t "docs list: bad --page-size" usage_error "invalid --page-size '0'" "docs list " \
    docs list --db d --page-size 0
t "audit: bad --start" usage_error "invalid --start 'x'" "audit " audit --start x
t "audit: stray argument" usage_error "unexpected argument 'list'" "audit " audit list
t "audit: global option after it" usage_error "--output is a global option: put it before 'audit' \\(certctl --output \\.\\.\\. audit\\)" \
    "audit " audit --output json

# Client CAs and cluster certificate rotation.
t "client-ca put: no name" usage_error "missing NAME \\(give it as the argument or as --name\\)" \
    "client-ca put " client-ca put --file x
t "client-ca put: no --file" usage_error "missing required option --file" "client-ca put " \
    client-ca put team
t "client-ca put: bad clearance" usage_error \
    "invalid value 'ClusterNode' for --clearance \\(allowed: ClusterAdmin, Operator, ValidUser\\)" \
    "client-ca put " client-ca put team --file x --clearance ClusterNode
t "client-ca put: bad --perm" usage_error "invalid access level 'Write' for database 'db'" \
    "client-ca put " client-ca put team --file x --perm db=Write
t "client-ca patch: no --mode" usage_error "missing required option --mode" "client-ca patch " \
    client-ca patch team --file x
t "client-ca patch: bad --mode" usage_error \
    "invalid value 'MERGE' for --mode \\(allowed: APPEND, REPLACE\\)" "client-ca patch " \
    client-ca patch team --file x --mode MERGE
t "client-ca patch: --perm and --no-perms" usage_error "--perm and --no-perms contradict" \
    "client-ca patch " client-ca patch team --file x --mode APPEND --perm db=Read --no-perms
t "client-ca get: two names" usage_error "unexpected argument 'b'" "client-ca get " \
    client-ca get a b
t "client-ca delete: no name" usage_error "missing NAME" "client-ca delete " client-ca delete
t "client-ca list: stray argument" usage_error "unexpected argument 'x'" "client-ca list " \
    client-ca list x
t "renew-cert: bad --days" usage_error "invalid --days '0' \\(a whole number from 1 to 36500\\)" \
    "cluster renew-cert " cluster renew-cert --days 0
t "renew-cert: bad --wait-timeout" usage_error "invalid --wait-timeout 'soon'" \
    "cluster renew-cert " cluster renew-cert --wait --wait-timeout soon
t "replace-cert: no --file" usage_error "missing required option --file" "cluster replace-cert " \
    cluster replace-cert
t "replace-cert: no --days" usage_error "unknown option --days" "cluster replace-cert " \
    cluster replace-cert --file x --days 3
t "replace-cert: secret --password not echoed" usage_error "invalid --wait-timeout '0'" \
    "cluster replace-cert " cluster replace-cert --file x --password pw-Never-Show --wait-timeout 0
t "rotation-status: stray argument" usage_error "unexpected argument 'now'" \
    "cluster rotation-status " cluster rotation-status now
clientca_unreadable() {
    run --url https://127.0.0.1:1 "${DUMMY[@]}" client-ca put team --file "$TMP/absent.pem"
    want_rc 1 && want_err_lines 1 && want_err "^certctl: cannot read --file '.*absent.pem'"
}
t "client-ca put: unreadable --file" clientca_unreadable
clientca_not_pem() {
    echo "not a certificate" >"$TMP/not.pem"
    run --url https://127.0.0.1:1 "${DUMMY[@]}" client-ca patch team --file "$TMP/not.pem" --mode APPEND
    want_rc 1 && want_err_lines 1 && want_err "^certctl: --file '.*not.pem' holds no PEM certificate"
}
t "client-ca patch: --file without a certificate" clientca_not_pem
replace_unreadable() {
    run --url https://127.0.0.1:1 "${DUMMY[@]}" cluster replace-cert --file "$TMP/absent.pfx"
    want_rc 1 && want_err_lines 1 && want_err "^certctl: cannot read --file '.*absent.pfx'"
}
t "replace-cert: unreadable --file" replace_unreadable

gen_out_missing() {
    run --url https://127.0.0.1:1 "${DUMMY[@]}" certs generate --name n --out "$TMP/absent-dir"
    want_rc 1 && want_err_lines 1 && want_err "^certctl: --out '.*absent-dir': no such directory \\(give an existing directory"
}
t "generate: --out must be a directory" gen_out_missing

bad_output_env() {
    CERTCTL_OUTPUT=xml usage_error "invalid value 'xml' for CERTCTL_OUTPUT" "" \
        --url https://127.0.0.1:1 "${DUMMY[@]}" certs list
}
t "bad output from environment" bad_output_env
t "bad timeout" usage_error "invalid --timeout 'soon'" "" \
    --url https://127.0.0.1:1 "${DUMMY[@]}" --timeout soon certs list
t "no URL" usage_error "no node URL" "" "${DUMMY[@]}" certs list
t "bad URL" usage_error "invalid URL '127.0.0.1:8001'" "" --url 127.0.0.1:8001 "${DUMMY[@]}" certs list
t "no client certificate" usage_error "no client certificate" "" --url https://127.0.0.1:1 certs list
t "pfx and cert" usage_error "give either --pfx or --cert/--key" "" \
    --url https://127.0.0.1:1 "${DUMMY[@]}" --pfx "$TMP/dummy.pem" certs list

unreachable() {
    run --url "$1" "${DUMMY[@]}" --timeout 5 cluster status
    want_rc 1 || return 1
    want_err_lines 1 || return 1
    want_err "^certctl: no node answered \\(" || return 1
    [ -z "$OUT" ] || { say "stdout not empty"; return 1; }
}
t "unreachable node" unreachable https://127.0.0.1:1
t "no node of several reachable" unreachable https://127.0.0.1:1,https://127.0.0.1:2

unreadable_cert() {
    run --url https://127.0.0.1:1 --cert "$TMP/absent.pem" certs whoami
    want_rc 1 && want_err_lines 1 && want_err "^certctl: cannot read --cert '.*absent.pem'"
}
t "unreadable client certificate" unreadable_cert

password_not_echoed() {
    run --url https://127.0.0.1:1 --pfx "$TMP/dummy.pem" --password 'pw-Never-Show' --timeout 5 certs whoami
    want_rc 1
}
t "password stays out of errors" password_not_echoed

# ---- part 2: fake nodes ---------------------------------------------------

if ! command -v python3 >/dev/null || ! command -v openssl >/dev/null; then
    echo "skip fake-node tests: python3 or openssl missing"
else

PFX_PW='pfx-S3cret-pw'
UPLOAD_PW='upload-S3cret-pw'

mkcert() { # mkcert NAME CN [extra req args]
    local name=$1 cn=$2
    shift 2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$cn" -keyout "$TMP/$name.key" -out "$TMP/$name.pem" "$@" 2>/dev/null
}
mkcert cluster certraft-test-cluster -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
mkcert admin admin
mkcert stranger stranger
openssl pkcs12 -export -in "$TMP/admin.pem" -inkey "$TMP/admin.key" -out "$TMP/admin.pfx" \
    -passout "pass:$PFX_PW" 2>/dev/null

cat >"$TMP/fake_node.py" <<'PY'
# A fake certnode: mutual TLS, answers from a route table re-read on every
# request ({"METHOD /path[?query]": [reply, reply, ...]}, the last reply
# repeating; counters restart when the file changes), logs every request
# as one JSON line. A reply is {"status", "body"} or, for a binary body,
# {"status", "file"}, with optional "type" (Content-Type) and "headers".
import http.server, json, os, ssl, sys, threading

cert, key, client_ca, routes_path, log_path, port_file = sys.argv[1:7]
lock = threading.Lock()
state = {"text": None, "count": {}}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        peer = self.connection.getpeercert() or {}
        cns = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
        with lock:
            with open(routes_path) as f:
                text = f.read()
            if text != state["text"]:
                state["text"], state["count"] = text, {}
            routes = json.loads(text)
            with open(log_path, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "body": body,
                                    "cn": cns[0] if cns else None,
                                    "type": self.headers.get("Content-Type"),
                                    "accept": self.headers.get("Accept")}) + "\n")
            base = self.path.split("?")[0]
            key = next((k for k in (self.command + " " + self.path, self.command + " " + base)
                        if k in routes), None)
            if key is None:
                reply = {"status": 404, "body": {"Error": "no route", "Type": "NotFound"}}
            else:
                i = state["count"].get(key, 0)
                state["count"][key] = i + 1
                reply = routes[key][min(i, len(routes[key]) - 1)]
        if "file" in reply:  # a binary body: a zip, a PFX
            with open(reply["file"], "rb") as f:
                data = f.read()
        else:
            data = reply["body"] if isinstance(reply["body"], str) else json.dumps(reply["body"])
            data = data.encode()
        self.send_response(reply["status"])
        self.send_header("Content-Type", reply.get("type", "application/json"))
        for k, v in reply.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = answer

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(client_ca)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY

start_node() { # start_node N: fake node N, its port in PORTn
    echo '{}' >"$TMP/routes$1.json"
    : >"$TMP/log$1.jsonl"
    python3 "$TMP/fake_node.py" "$TMP/cluster.pem" "$TMP/cluster.key" "$TMP/admin.pem" \
        "$TMP/routes$1.json" "$TMP/log$1.jsonl" "$TMP/port$1" &
    SERVER_PIDS+=($!)
}
start_node 1
start_node 2
for _ in $(seq 100); do
    [ -f "$TMP/port1" ] && [ -f "$TMP/port2" ] && break
    sleep 0.1
done
if [ ! -f "$TMP/port1" ] || [ ! -f "$TMP/port2" ]; then
    echo "FAIL fake nodes did not start"
    FAILED=$((FAILED + 1))
else

P1=$(cat "$TMP/port1")
P2=$(cat "$TMP/port2")
U1=https://127.0.0.1:$P1
U2=https://127.0.0.1:$P2
AUTH=(--cert "$TMP/admin.pem" --key "$TMP/admin.key" --cacert "$TMP/cluster.pem" --timeout 10)

# topology LEADER_URL_JSON [pending_id|-] [node4_role|-]: a topology document.
topology() {
    python3 - "$1" "$2" "$3" "$P1" "$P2" <<'PY'
import json, sys
leader_url, pending, role4, p1, p2 = sys.argv[1:6]
nodes = [{"Id": 1, "RaftAddress": "127.0.0.1:7001", "ApiUrl": "https://127.0.0.1:" + p1, "Role": "Voter"},
         {"Id": 2, "RaftAddress": "127.0.0.1:7002", "ApiUrl": "https://127.0.0.1:" + p2, "Role": "Voter"},
         {"Id": 3, "RaftAddress": "127.0.0.1:7003", "ApiUrl": "https://127.0.0.1:8003", "Role": "Standby"}]
if role4 != "-":
    nodes.append({"Id": 4, "RaftAddress": "127.0.0.1:7004", "ApiUrl": "https://127.0.0.1:8004", "Role": role4})
pend = [] if pending == "-" else [{"Id": int(pending), "RaftAddress": "127.0.0.1:7004",
        "ApiUrl": "https://127.0.0.1:8004", "JoinThumbprint": "AB" * 32}]
print(json.dumps({"NodeId": 1, "State": "Leader", "Leader": 1,
                  "LeaderApiUrl": json.loads(leader_url), "Term": 3, "CommitIndex": 10,
                  "AppliedIndex": 9, "Nodes": nodes, "PendingNodes": pend}))
PY
}
ok() { echo "{\"status\": ${2:-200}, \"body\": $1}"; }
# okraw TEXT: a 200 reply whose body is TEXT exactly, not re-encoded.
okraw() { python3 -c 'import json, sys; print(json.dumps({"status": 200, "body": sys.argv[1]}))' "$1"; }

# routes N JSON: sets node N's route table and clears its log.
routes() { echo "$2" >"$TMP/routes$1.json"; : >"$TMP/log$1.jsonl"; }
# q N EXPR: evaluates a python expression over node N's logged requests `r`.
q() {
    python3 -c 'import json, sys, base64
r = [json.loads(l) for l in open(sys.argv[1])]
print(eval(sys.argv[2]))' "$TMP/log$1.jsonl" "$2" "${@:3}"
}

TOPO_SELF=$(topology "\"$U1\"" 4 -)
ENTRY1='{"Thumbprint":"AAAA1111","Sha1Thumbprint":"X","Name":"app one","SecurityClearance":"ValidUser","Permissions":{"zeta":"Read","alpha":"Admin"},"NotBefore":"2026-01-01T00:00:00Z","NotAfter":"2027-03-04T05:06:07Z","PublicKeyPinningHash":"P","Subject":"CN=app1","Issuer":"CN=app1","Disabled":false,"CollectionPrimaryKey":"","CollectionSecondaryKeys":[],"Certificate":"AA=="}'
ENTRY2='{"Thumbprint":"BBBB2222","Sha1Thumbprint":"Y","Name":"ops","SecurityClearance":"Operator","Permissions":{},"NotBefore":"2026-01-01T00:00:00Z","NotAfter":"2026-06-30T00:00:00Z","PublicKeyPinningHash":"P","Subject":"CN=ops","Issuer":"CN=ops","Disabled":true,"CollectionPrimaryKey":"","CollectionSecondaryKeys":[],"Certificate":"AA=="}'

status_table() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    run --url "$U1" "${AUTH[@]}" cluster status
    want_rc 0 || return 1
    want_out "^Answered by: +node 1 \\(Leader\\)$" && want_out "^Leader: +node 1$" || return 1
    want_out "^Term: +3$" && want_out "^Commit index: +10$" && want_out "^Applied index: +9$" || return 1
    want_out "^ID +ROLE +LEADER +RAFT ADDRESS +API URL$" || return 1
    want_out "^1 +Voter +\\* +127\\.0\\.0\\.1:7001 +$U1$" || return 1
    want_out "^3 +Standby +127\\.0\\.0\\.1:7003 +https://127\\.0\\.0\\.1:8003$" || return 1
    want_out "^Pending nodes:$" && want_out "^4 +127\\.0\\.0\\.1:7004 +https://127\\.0\\.0\\.1:8004 +(AB){32}$" || return 1
    ! grep -q ' $' "$TMP/out" || { say "trailing blanks"; return 1; }
    want_equal "$(q 1 'r[0]["cn"]')" admin
}
t "cluster status table (over mutual TLS)" status_table

status_json() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    run --url "$U1" "${AUTH[@]}" --output json cluster status
    want_rc 0 || return 1
    [ "$(wc -l <"$TMP/out")" -gt 10 ] || { say "not pretty-printed"; show; return 1; }
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.loads(sys.argv[2]); sys.exit(a!=b)' \
        "$TMP/out" "$TOPO_SELF" || { say "JSON differs from the reply"; show; return 1; }
    # key order kept as the server sent it
    want_equal "$(grep -m1 -o '"[A-Za-z]*"' "$TMP/out")" '"NodeId"'
}
t "cluster status json" status_json

failover() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    run --url "https://127.0.0.1:1, $U1" "${AUTH[@]}" cluster status
    want_rc 0 && want_out "^Answered by: +node 1"
}
t "first URL dead: the next one is used" failover

env_precedence() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    CERTCTL_URL=https://127.0.0.1:1 CERTCTL_OUTPUT=json run --url "$U1" --output table \
        "${AUTH[@]}" cluster status
    want_rc 0 && want_out "^Answered by:" || return 1
    CERTCTL_URL=$U1 CERTCTL_CERT=$TMP/admin.pem CERTCTL_KEY=$TMP/admin.key \
        CERTCTL_CACERT=$TMP/cluster.pem CERTCTL_OUTPUT=json run cluster status
    want_rc 0 && want_out '^  "NodeId": 1,$'
}
t "flags beat environment; environment alone works" env_precedence

http_error() {
    routes 1 '{"GET /certificates/whoami": [{"status": 403, "body": {"Error": "unknown certificate ABC\nline2", "Type": "AuthorizationException"}}]}'
    run --url "$U1" "${AUTH[@]}" certs whoami
    want_rc 1 && want_err_lines 1 && want_equal "$ERR" "certctl: 403 Forbidden: unknown certificate ABC line2"
}
t "HTTP error: status, reason and Error on one line" http_error

non_json_error() {
    routes 1 '{"GET /certificates/whoami": [{"status": 502, "body": "upstream down"}]}'
    run --url "$U1" "${AUTH[@]}" certs whoami
    want_rc 1 && want_equal "$ERR" "certctl: 502 Bad Gateway: upstream down"
}
t "non-JSON error reply" non_json_error

bad_success_reply() {
    routes 1 '{"GET /certificates/whoami": [{"status": 200, "body": "not json"}]}'
    run --url "$U1" "${AUTH[@]}" certs whoami
    want_rc 1 && want_err_lines 1 && want_err "^certctl: 200 OK: the node's reply is not a JSON object$"
}
t "2xx reply that is not JSON" bad_success_reply

list_table() {
    routes 1 "{\"GET /admin/certificates\": [$(ok "{\"Results\": [$ENTRY1, $ENTRY2]}")]}"
    run --url "$U1" "${AUTH[@]}" certs list --name 'app one&x=1/é' --secondary --expiring-within-days 30
    want_rc 0 || return 1
    want_equal "$(q 1 'r[0]["path"]')" \
        "/admin/certificates?name=app%20one%26x%3D1%2F%C3%A9&expiringWithinDays=30&secondary=true" || return 1
    want_equal "$(q 1 'r[0]["method"]')" GET || return 1
    want_out "^THUMBPRINT +NAME +CLEARANCE +NOT AFTER +PERMISSIONS +DISABLED$" || return 1
    want_out "^AAAA1111 +app one +ValidUser +2027-03-04 +alpha:Admin,zeta:Read +no$" || return 1
    want_out "^BBBB2222 +ops +Operator +2026-06-30 +- +yes$"
}
t "certs list: query encoding and table" list_table

list_empty() {
    routes 1 "{\"GET /admin/certificates\": [$(ok '{"Results": []}')]}"
    run --url "$U1" "${AUTH[@]}" certs list --thumbprint 'A+B'
    want_rc 0 && [ -z "$OUT" ] && want_err "no certificates found" &&
        want_equal "$(q 1 'r[0]["path"]')" "/admin/certificates?thumbprint=A%2BB"
}
t "certs list: nothing found" list_empty

whoami_table() {
    routes 1 "{\"GET /certificates/whoami\": [$(ok "$ENTRY1")]}"
    run --url "$U1" "${AUTH[@]}" certs whoami
    want_rc 0 && want_out "^Name: +app one$" && want_out "^Permissions: +alpha:Admin,zeta:Read$" &&
        want_out "^Not after: +2027-03-04T05:06:07Z$" && want_out "^Disabled: +no$"
}
t "certs whoami table" whoami_table

write_to_leader() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U2/\"" - -)")]}"
    routes 2 "{\"DELETE /admin/certificates\": [$(ok '{"Deleted": ["T1", "T2"]}')]}"
    run --url "$U1" "${AUTH[@]}" certs delete --thumbprint T1
    want_rc 0 || return 1
    want_equal "$OUT" "deleted T1
deleted T2" || return 1
    want_equal "$(q 2 '[(x["method"], x["path"]) for x in r]')" \
        "[('DELETE', '/admin/certificates?thumbprint=T1')]" || return 1
    want_equal "$(q 1 '[(x["method"], x["path"]) for x in r]')" "[('GET', '/cluster/topology')]"
}
t "writes go to the leader named by the topology" write_to_leader

leader_unreachable() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology '"https://127.0.0.1:1"' - -)")],
               \"DELETE /admin/certificates\": [$(ok '{"Deleted": ["T1"]}')]}"
    routes 2 '{}'
    run --url "$U1" "${AUTH[@]}" certs delete --thumbprint T1
    want_rc 0 && want_equal "$OUT" "deleted T1" &&
        want_equal "$(q 1 '[x["method"] for x in r]')" "['GET', 'DELETE']"
}
t "leader unreachable: the write goes to the live node" leader_unreachable

no_leader() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology null - -)")],
               \"POST /admin/cluster/transfer-leadership\": [$(ok '{"Leader": 2}')]}"
    run --url "$U1" "${AUTH[@]}" cluster transfer-leadership --id 2
    want_rc 0 && want_equal "$OUT" "leader is now node 2" &&
        want_equal "$(q 1 'r[1]["path"]')" "/admin/cluster/transfer-leadership?id=2"
}
t "transfer-leadership (no leader known: live node)" no_leader

upload() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U2\"" - -)")]}"
    routes 2 "{\"PUT /admin/certificates\": [{\"status\": 201, \"body\": {\"Thumbprint\": \"PRIM\", \"SecondaryThumbprints\": [\"SEC1\", \"SEC2\"]}}]}"
    CERTCTL_PASSWORD=$PFX_PW run --url "$U1" --pfx "$TMP/admin.pfx" --cacert "$TMP/cluster.pem" \
        certs upload --name 'app one' --file "$TMP/admin.pfx" --password "$UPLOAD_PW" \
        --clearance Operator --perm db1=Admin --perm db2=Read
    want_rc 0 || return 1
    want_out "^THUMBPRINT +KIND$" && want_out "^PRIM +primary$" && want_out "^SEC2 +secondary$" || return 1
    want_equal "$(q 2 'r[0]["method"] + " " + r[0]["path"] + " " + r[0]["type"]')" \
        "PUT /admin/certificates application/json" || return 1
    want_equal "$(q 2 'r[0]["cn"]')" admin || return 1
    python3 - "$TMP/log2.jsonl" "$TMP/admin.pfx" "$UPLOAD_PW" <<'PY' || { say "bad request body"; return 1; }
import base64, json, sys
body = json.loads(json.loads(open(sys.argv[1]).readline())["body"])
want = {"Name": "app one", "Certificate": base64.b64encode(open(sys.argv[2], "rb").read()).decode(),
        "SecurityClearance": "Operator", "Permissions": {"db1": "Admin", "db2": "Read"},
        "Password": sys.argv[3]}
sys.exit(body != want)
PY
}
t "certs upload: body, PFX client certificate, leader" upload

upload_defaults() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"PUT /admin/certificates\": [{\"status\": 201, \"body\": {\"Thumbprint\": \"PRIM\", \"SecondaryThumbprints\": []}}]}"
    run --url "$U1" "${AUTH[@]}" --output json certs upload --name n --file "$TMP/admin.pem"
    want_rc 0 && want_out '"Thumbprint": "PRIM"' || return 1
    want_equal "$(q 1 'sorted(json.loads(r[1]["body"]).items())[2:]')" \
        "[('Permissions', {}), ('SecurityClearance', 'ValidUser')]"
}
t "certs upload: defaults, json output" upload_defaults

add_node_wait() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF"), $(ok "$(topology "\"$U1\"" 4 -)"),
                                          $(ok "$(topology "\"$U1\"" - Standby)"),
                                          $(ok "$(topology "\"$U1\"" - Voter)")],
               \"PUT /admin/cluster/node\": [{\"status\": 202, \"body\": {\"Id\": 4, \"Status\": \"Pending\"}}]}"
    run --url "$U1" "${AUTH[@]}" cluster add-node --id 4 --raft-address 127.0.0.1:7004 \
        --api-url https://127.0.0.1:8004/ --thumbprint "$(echo $THUMB | tr A-F a-f)"
    want_rc 0 && want_out "^node 4: Pending$" && want_out "^node 4 joined as voter$" || return 1
    want_equal "$(q 1 'json.loads(r[1]["body"])')" \
        "{'Id': 4, 'RaftAddress': '127.0.0.1:7004', 'ApiUrl': 'https://127.0.0.1:8004', 'JoinThumbprint': '$THUMB'}" || return 1
    want_equal "$(q 1 'len([x for x in r if x["path"] == "/cluster/topology"])')" 4
}
t "cluster add-node waits until voter" add_node_wait

add_node_timeout() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")],
               \"PUT /admin/cluster/node\": [{\"status\": 202, \"body\": {\"Id\": 4, \"Status\": \"Pending\"}}]}"
    run --url "$U1" "${AUTH[@]}" cluster add-node --id 4 --raft-address 127.0.0.1:7004 \
        --api-url https://127.0.0.1:8004 --thumbprint $THUMB --wait-timeout 1
    want_rc 1 && want_err_lines 1 && want_err "^certctl: node 4 did not join as voter within 1 s \\(last: pending\\)$"
}
t "cluster add-node: timeout" add_node_timeout

add_node_no_wait_json() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")],
               \"PUT /admin/cluster/node\": [{\"status\": 202, \"body\": {\"Id\": 4, \"Status\": \"Pending\"}}]}"
    run --url "$U1" "${AUTH[@]}" --output json cluster add-node --id 4 --raft-address 127.0.0.1:7004 \
        --api-url https://127.0.0.1:8004 --thumbprint $THUMB --no-wait
    want_rc 0 && want_out '"Status": "Pending"' &&
        want_equal "$(q 1 'len(r)')" 2
}
t "cluster add-node --no-wait, json" add_node_no_wait_json

remove_node() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")],
               \"DELETE /admin/cluster/node\": [$(ok '{"Id": 4, "Status": "Removed"}')]}"
    run --url "$U1" "${AUTH[@]}" cluster remove-node --id 4
    want_rc 0 && want_equal "$OUT" "node 4: Removed" &&
        want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"]')" "DELETE /admin/cluster/node?id=4"
}
t "cluster remove-node" remove_node

wrong_cacert() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    run --url "$U1" --cert "$TMP/admin.pem" --key "$TMP/admin.key" --cacert "$TMP/stranger.pem" cluster status
    want_rc 1 && want_err_lines 1 && want_err "^certctl: no node answered" || return 1
    run --url "$U1" --cert "$TMP/admin.pem" --key "$TMP/admin.key" --insecure cluster status
    want_rc 0 && want_err "warning: --insecure"
}
t "server verified with --cacert; --insecure warns" wrong_cacert

client_cert_rejected() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$TOPO_SELF")]}"
    run --url "$U1" --cert "$TMP/stranger.pem" --key "$TMP/stranger.key" --cacert "$TMP/cluster.pem" cluster status
    want_rc 1 && want_err_lines 1 && want_err "^certctl: "
}
t "client certificate refused by the node" client_cert_rejected

# ---- lifecycle commands: generate, edit, purge, export-server ------------

GEN_PW='gen-S3cret-pw'
FAKE_KEY=$'-----BEGIN PRIVATE KEY-----\nFAKE-KEY-MATERIAL-xyzzy\n-----END PRIVATE KEY-----\n'
GEN_THUMB=$(printf 'C0FFEE%.0s' $(seq 10))C0FFEE12 # 64 hex digits
CRT_THUMB=$(openssl x509 -in "$TMP/admin.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')

# mkzip FILE NAME=CONTENT_FILE...: a zip holding each CONTENT_FILE as NAME.
mkzip() {
    local out=$1
    shift
    python3 - "$out" "$@" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for spec in sys.argv[2:]:
        name, path = spec.split("=", 1)
        z.write(path, name)
PY
}
printf '%s' "$FAKE_KEY" >"$TMP/fake.key"
printf 'PFX-BYTES\001\002' >"$TMP/fake.pfx"
mkzip "$TMP/gen.zip" "app_one.pfx=$TMP/fake.pfx" "app_one.crt=$TMP/admin.pem" "app_one.key=$TMP/fake.key"
mkzip "$TMP/nokey.zip" "app_one.pfx=$TMP/fake.pfx" "app_one.crt=$TMP/admin.pem"
mkzip "$TMP/evil.zip" "../evil.pfx=$TMP/fake.pfx" "/tmp/evil.crt=$TMP/admin.pem" "../../evil.key=$TMP/fake.key"
echo 'not a zip' >"$TMP/notzip.bin"

# gen_routes ZIP_FILE [HEADERS_JSON]: node 1 names node 2 the leader, which
# answers the generate request with ZIP_FILE.
gen_routes() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U2\"" - -)")]}"
    routes 2 "{\"POST /admin/certificates\": [{\"status\": 201, \"type\": \"application/zip\",
               \"headers\": ${2:-{\"X-Certraft-Thumbprint\": \"$GEN_THUMB\"\}}, \"file\": \"$1\"}]}"
}
mode_of() { stat -c %a "$1"; }
posts() { q "$1" 'len([x for x in r if x["method"] == "POST"])'; }

generate_files() {
    local d=$TMP/gen1 f
    mkdir -p "$d"
    gen_routes "$TMP/gen.zip"
    run --url "$U1" "${AUTH[@]}" certs generate --name 'app/one' --clearance Operator \
        --perm db1=Admin --perm 'my db=Read' --password "$GEN_PW" --days 30 --key-type P-384 --out "$d/"
    want_rc 0 || return 1
    want_equal "$OUT" "thumbprint $GEN_THUMB
wrote $d/app_one.pfx
wrote $d/app_one.crt
wrote $d/app_one.key" || { show; return 1; }
    for f in pfx crt key; do
        [ -f "$d/app_one.$f" ] || { say "no app_one.$f"; return 1; }
        want_equal "$(mode_of "$d/app_one.$f")" 600 || return 1
    done
    cmp -s "$d/app_one.key" "$TMP/fake.key" && cmp -s "$d/app_one.crt" "$TMP/admin.pem" &&
        cmp -s "$d/app_one.pfx" "$TMP/fake.pfx" || { say "file contents differ"; return 1; }
    want_equal "$(q 2 'r[0]["method"] + " " + r[0]["path"] + " " + r[0]["type"] + " " + r[0]["accept"]')" \
        "POST /admin/certificates application/json application/zip" || return 1
    want_equal "$(q 2 'json.loads(r[0]["body"])')" \
        "{'Name': 'app/one', 'SecurityClearance': 'Operator', 'Permissions': {'db1': 'Admin', 'my db': 'Read'}, 'Password': '$GEN_PW', 'ExpirationDays': 30, 'KeyType': 'P-384'}" || return 1
    # a second run must not overwrite, and must not even ask for a new certificate
    routes 2 "$(cat "$TMP/routes2.json")"
    run --url "$U1" "${AUTH[@]}" certs generate --name 'app/one' --out "$d"
    want_rc 1 && want_err_lines 1 &&
        want_err "^certctl: '$d/app_one.pfx' already exists: not overwritten; nothing was generated$" || return 1
    want_equal "$(posts 2)" 0 && want_equal "$(q 1 'len(r)')" 1 &&
        cmp -s "$d/app_one.key" "$TMP/fake.key"
}
t "certs generate: files 0600, body, leader, no overwrite" generate_files

generate_one_exists() {
    local d=$TMP/gen2
    mkdir -p "$d"
    ln -s "$TMP/elsewhere" "$d/n.key" # even a dangling link counts
    gen_routes "$TMP/gen.zip"
    run --url "$U1" "${AUTH[@]}" certs generate --name n --out "$d"
    want_rc 1 && want_err "'$d/n.key' already exists" || return 1
    [ ! -e "$d/n.pfx" ] && [ ! -e "$TMP/elsewhere" ] && want_equal "$(posts 2)" 0
}
t "certs generate: an existing .key (a symlink) stops it before the request" generate_one_exists

generate_zip_json() {
    local d=$TMP/gen3
    mkdir -p "$d"
    gen_routes "$TMP/gen.zip" '{}' # no thumbprint header: taken from the .crt
    run --url "$U1" "${AUTH[@]}" --output json certs generate --name 'app one' --not-after 2030-01-31 --zip --out "$d"
    want_rc 0 || return 1
    python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != {"Thumbprint": sys.argv[2], "Files": [sys.argv[3]]})' \
        "$TMP/out" "$CRT_THUMB" "$d/app one.zip" || { say "bad JSON output"; show; return 1; }
    cmp -s "$d/app one.zip" "$TMP/gen.zip" && want_equal "$(mode_of "$d/app one.zip")" 600 || return 1
    [ "$(ls "$d" | wc -l)" -eq 1 ] || { say "more than the zip written"; return 1; }
    want_equal "$(q 2 'sorted(json.loads(r[0]["body"]).items())')" \
        "[('Name', 'app one'), ('NotAfter', '2030-01-31'), ('Permissions', {}), ('SecurityClearance', 'ValidUser')]"
}
t "certs generate --zip, json output, thumbprint from the .crt" generate_zip_json

generate_bad_reply() {
    local d=$TMP/gen4
    mkdir -p "$d"
    gen_routes "$TMP/notzip.bin"
    run --url "$U1" "${AUTH[@]}" certs generate --name n --out "$d"
    want_rc 1 && want_err_lines 1 &&
        want_err "^certctl: the certificate was generated and registered \\(thumbprint $GEN_THUMB\\), but the node's reply is unusable: not a zip archive .*delete it with 'certctl certs delete --thumbprint $GEN_THUMB'$" || return 1
    gen_routes "$TMP/nokey.zip" '{}'
    run --url "$U1" "${AUTH[@]}" certs generate --name n --out "$d"
    want_rc 1 && want_err "but the node's reply is unusable: it has no \\.key file: delete it with .*--thumbprint $CRT_THUMB'$" || return 1
    [ -z "$(ls "$d")" ] || { say "files written from a bad reply"; ls -l "$d"; return 1; }
}
t "certs generate: unusable reply writes nothing and names the certificate" generate_bad_reply

generate_zip_slip() {
    local d=$TMP/gen5/out
    mkdir -p "$d"
    gen_routes "$TMP/evil.zip"
    run --url "$U1" "${AUTH[@]}" certs generate --name safe --out "$d"
    want_rc 0 || return 1
    [ "$(cd "$TMP/gen5" && find . -type f | sort | tr '\n' ' ')" = "./out/safe.crt ./out/safe.key ./out/safe.pfx " ] ||
        { say "zip entry names used as paths"; find "$TMP/gen5"; return 1; }
    [ ! -e /tmp/evil.crt ] && [ ! -e "$TMP/evil.key" ]
}
t "certs generate: zip entry names never become paths" generate_zip_slip

generate_refused() {
    local d=$TMP/gen6
    mkdir -p "$d"
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates\": [{\"status\": 400, \"body\": {\"Error\": \"NotAfter is in the past: choose a future date\", \"Type\": \"InvalidArgument\"}}]}"
    run --url "$U1" "${AUTH[@]}" certs generate --name n --not-after 2000-01-01 --out "$d"
    want_rc 1 && want_equal "$ERR" "certctl: 400 Bad Request: NotAfter is in the past: choose a future date" &&
        [ -z "$(ls "$d")" ]
}
t "certs generate: refused by the server" generate_refused

edit_cert() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates/edit\": [$(ok "$ENTRY2")]}"
    run --url "$U1" "${AUTH[@]}" certs edit --thumbprint BBBB2222 --name ops --no-perms --disable
    want_rc 0 && want_out "^Name: +ops$" && want_out "^Disabled: +yes$" && want_out "^Permissions: +-$" || return 1
    want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"]')" "POST /admin/certificates/edit" || return 1
    want_equal "$(q 1 'json.loads(r[1]["body"])')" \
        "{'Thumbprint': 'BBBB2222', 'Name': 'ops', 'Permissions': {}, 'Disabled': True}" || return 1
    run --url "$U1" "${AUTH[@]}" --output json certs edit --thumbprint BBBB2222 --perm a=Read --clearance Operator --enable
    want_rc 0 && want_out '^  "Thumbprint": "BBBB2222",$' || return 1
    want_equal "$(q 1 'json.loads(r[-1]["body"])')" \
        "{'Thumbprint': 'BBBB2222', 'SecurityClearance': 'Operator', 'Permissions': {'a': 'Read'}, 'Disabled': False}"
}
t "certs edit: only the changes are sent" edit_cert

purge() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"DELETE /admin/certificates/purge\": [$(ok '{"Purged": ["T1", "T2"]}'), $(ok '{"Purged": []}')]}"
    run --url "$U1" "${AUTH[@]}" certs purge
    want_rc 0 && want_equal "$OUT" "purged T1
purged T2" || return 1
    run --url "$U1" "${AUTH[@]}" certs purge
    want_rc 0 && [ -z "$OUT" ] && want_err "no expired certificates to purge" || return 1
    want_equal "$(q 1 '[x["method"] + " " + x["path"] for x in r if x["method"] != "GET"]')" \
        "['DELETE /admin/certificates/purge', 'DELETE /admin/certificates/purge']"
}
t "certs purge" purge

openssl pkcs12 -export -nokeys -in "$TMP/cluster.pem" -passout pass: -out "$TMP/servers.pfx" 2>/dev/null
CLUSTER_THUMB=$(openssl x509 -in "$TMP/cluster.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
export_routes() {
    routes 1 "{\"GET /admin/certificates/export\": [{\"status\": 200, \"type\": \"application/x-pkcs12\", \"file\": \"$1\"}]}"
}

export_server() {
    local d=$TMP/exp
    mkdir -p "$d"
    export_routes "$TMP/servers.pfx"
    cd "$d" || return 1
    run --url "$U1" "${AUTH[@]}" certs export-server # the default --out, in the current directory
    cd - >/dev/null || return 1
    want_rc 0 || return 1
    run --url "$U1" "${AUTH[@]}" certs export-server --out "$d/c.pfx"
    want_rc 0 && want_out "^wrote $d/c.pfx$" && want_out "^THUMBPRINT +SUBJECT$" &&
        want_out "^$CLUSTER_THUMB +/CN=certraft-test-cluster$" || return 1
    cmp -s "$d/c.pfx" "$TMP/servers.pfx" && want_equal "$(mode_of "$d/c.pfx")" 600 || return 1
    cmp -s "$d/cluster-certificates.pfx" "$TMP/servers.pfx" || { say "default --out not written"; return 1; }
    want_equal "$(q 1 'r[0]["accept"]')" application/x-pkcs12 || return 1
    # refuses to overwrite unless --force, and --force leaves 0600 behind
    chmod 644 "$d/c.pfx"
    echo old >"$d/c.pfx"
    run --url "$U1" "${AUTH[@]}" certs export-server --out "$d/c.pfx"
    want_rc 1 && want_err_lines 1 &&
        want_err "^certctl: '$d/c.pfx' already exists: not overwritten \\(use --force to replace it\\)$" || return 1
    want_equal "$(cat "$d/c.pfx")" old || return 1
    run --url "$U1" "${AUTH[@]}" --output json certs export-server --out "$d/c.pfx" --force
    want_rc 0 && want_out "\"Thumbprint\": \"$CLUSTER_THUMB\"" || return 1
    cmp -s "$d/c.pfx" "$TMP/servers.pfx" && want_equal "$(mode_of "$d/c.pfx")" 600 &&
        want_equal "$(ls "$d" | wc -l)" 2
}
t "certs export-server: 0600, no overwrite without --force" export_server

export_not_pfx() {
    export_routes "$TMP/notzip.bin"
    run --url "$U1" "${AUTH[@]}" certs export-server --out "$TMP/exp-bad.pfx"
    want_rc 1 && want_err "^certctl: 200: the node's reply is not a PKCS#12 file; nothing written$" &&
        [ ! -e "$TMP/exp-bad.pfx" ]
}
t "certs export-server: a reply that is not a PFX is not saved" export_not_pfx

# ---- databases and documents ---------------------------------------------

db_commands() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"PUT /admin/databases\": [{\"status\": 201, \"body\": {\"Name\": \"h r\"}}],
               \"DELETE /admin/databases\": [$(ok '{"Name": "h r", "Deleted": true}')],
               \"GET /databases\": [$(ok '{"Databases": [{"Name": "hr", "Documents": 12, "Access": "Admin"}, {"Name": "sales", "Documents": 0, "Access": "Read"}]}'), $(ok '{"Databases": []}')]}"
    run --url "$U1" "${AUTH[@]}" db create 'h r'
    want_rc 0 && want_equal "$OUT" "created database h r" || return 1
    want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"] + " " + r[1]["body"]')" \
        'PUT /admin/databases {"DatabaseName":"h r"}' || return 1
    run --url "$U1" "${AUTH[@]}" db delete --name 'h r'
    want_rc 0 && want_equal "$OUT" "deleted database h r" || return 1
    want_equal "$(q 1 'r[-1]["method"] + " " + r[-1]["path"]')" "DELETE /admin/databases?name=h%20r" || return 1
    run --url "$U1" "${AUTH[@]}" db list
    want_rc 0 && want_out "^NAME +DOCUMENTS +ACCESS$" && want_out "^hr +12 +Admin$" &&
        want_out "^sales +0 +Read$" || return 1
    run --url "$U1" "${AUTH[@]}" db list
    want_rc 0 && [ -z "$OUT" ] && want_err "no databases"
}
t "db create / delete / list" db_commands

db_json() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"PUT /admin/databases\": [{\"status\": 409, \"body\": {\"Error\": \"database hr exists\", \"Type\": \"Conflict\"}}],
               \"GET /databases\": [$(ok '{"Databases": [{"Name": "hr", "Documents": 12, "Access": "Admin"}]}')]}"
    run --url "$U1" "${AUTH[@]}" db create hr
    want_rc 1 && want_equal "$ERR" "certctl: 409 Conflict: database hr exists" || return 1
    run --url "$U1" "${AUTH[@]}" --output json db list
    want_rc 0 && want_out '^      "Documents": 12,$'
}
t "db: errors and json output" db_json

DOC='{"z": 1, "a": [1, 2.50, {}, []], "big": 123456789012345678901234567890, "s": "caf\u00e9 \"q\" é"}'
docs_put() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U2\"" - -)")]}"
    routes 2 "{\"PUT /databases/h%2Fr/docs\": [{\"status\": 201, \"body\": {\"Id\": \"emp/1\"}}]}"
    run --url "$U1" "${AUTH[@]}" docs put --db h/r --id emp/1 --data "$DOC"
    want_rc 0 && want_equal "$OUT" "stored emp/1" || return 1
    want_equal "$(q 2 'r[0]["method"] + " " + r[0]["path"] + " " + r[0]["type"]')" \
        "PUT /databases/h%2Fr/docs?id=emp%2F1 application/json" || return 1
    # sent as written: digits and key order untouched
    want_equal "$(q 2 'r[0]["body"]')" "$DOC" || return 1
    printf '%s' "$DOC" >"$TMP/doc.json"
    run --url "$U1" "${AUTH[@]}" docs put --db h/r --id emp/1 --file "$TMP/doc.json"
    want_rc 0 && want_equal "$(q 2 'r[-1]["body"]')" "$DOC" || return 1
    "$CERTCTL_BIN" --url "$U1" "${AUTH[@]}" --output json docs put --db h/r --id emp/1 --file - \
        <"$TMP/doc.json" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    want_rc 0 && want_out '"Id": "emp/1"' && want_equal "$(q 2 'r[-1]["body"]')" "$DOC"
}
t "docs put: --data, --file, stdin; sent verbatim" docs_put

docs_put_invalid_no_request() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")]}"
    printf '{"a": tru}' >"$TMP/bad.json"
    run --url "$U1" "${AUTH[@]}" docs put --db d --id i --file "$TMP/bad.json"
    want_rc 2 && want_err "^certctl: invalid JSON in --file: " && want_equal "$(q 1 'len(r)')" 0
}
t "docs put: invalid JSON is never sent" docs_put_invalid_no_request

docs_get() {
    routes 1 "{\"GET /databases/hr/docs\": [$(okraw "$DOC"), $(ok '42'),
               {\"status\": 404, \"body\": {\"Error\": \"no document emp/9\", \"Type\": \"NotFound\"}}]}"
    run --url "$U1" "${AUTH[@]}" docs get --db hr --id 'emp/1'
    want_rc 0 || return 1
    want_equal "$OUT" '{
  "z": 1,
  "a": [
    1,
    2.50,
    {},
    []
  ],
  "big": 123456789012345678901234567890,
  "s": "caf\u00e9 \"q\" é"
}' || { show; return 1; }
    want_equal "$(q 1 'r[0]["path"]')" "/databases/hr/docs?id=emp%2F1" || return 1
    run --url "$U1" "${AUTH[@]}" --output json docs get --db hr --id x
    want_rc 0 && want_equal "$OUT" 42 || return 1
    run --url "$U1" "${AUTH[@]}" docs get --db hr --id emp/9
    want_rc 1 && want_equal "$ERR" "certctl: 404 Not Found: no document emp/9"
}
t "docs get: pretty, exact numbers, any JSON value" docs_get

docs_get_escapes() {
    routes 1 "{\"GET /databases/hr/docs\": [{\"status\": 200, \"body\": \"{\\\"t\\\": \\\"a\u009b31mb\\\"}\"}]}"
    run --url "$U1" "${AUTH[@]}" docs get --db hr --id x
    want_rc 0 && want_equal "$OUT" '{
  "t": "a\u009b31mb"
}'
}
t "docs get: C1 control characters escaped, not sent to the terminal" docs_get_escapes

docs_delete() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"DELETE /databases/hr/docs\": [$(ok '{"Id": "emp/1", "Deleted": true}')]}"
    run --url "$U1" "${AUTH[@]}" docs delete --db hr --id emp/1
    want_rc 0 && want_equal "$OUT" "deleted emp/1" &&
        want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"]')" "DELETE /databases/hr/docs?id=emp%2F1"
}
t "docs delete" docs_delete

docs_list() {
    local long
    long=$(python3 -c 'print("x" * 100)')
    routes 1 "{\"GET /databases/hr/docs\": [$(ok "{\"Results\": [{\"Id\": \"emp/3\", \"Document\": {\"Name\": \"Ann\", \"Age\": 3}}, {\"Id\": \"emp/4\", \"Document\": \"$long\"}], \"NextStart\": \"emp/4\"}"),
                                         $(ok '{"Results": [], "NextStart": null}')]}"
    run --url "$U1" "${AUTH[@]}" docs list --db hr --prefix emp/ --start emp/2 --page-size 2
    want_rc 0 || return 1
    want_equal "$(q 1 'r[0]["path"]')" "/databases/hr/docs?startsWith=emp%2F&start=emp%2F2&pageSize=2" || return 1
    want_out "^ID +DOCUMENT$" && want_out '^emp/3 +\{"Name":"Ann","Age":3\}$' &&
        want_out "^emp/4 +\"x{71}\\.\\.\\.$" || return 1
    want_err "more documents may follow: add --start 'emp/4'" || return 1
    run --url "$U1" "${AUTH[@]}" docs list --db hr
    want_rc 0 && [ -z "$OUT" ] && want_err "no documents found"
}
t "docs list: query, table, next page" docs_list

docs_list_json() {
    routes 1 "{\"GET /databases/hr/docs\": [$(ok "{\"Results\": [{\"Id\": \"a\", \"Document\": {\"v\": 0.1}}], \"NextStart\": null}")]}"
    run --url "$U1" "${AUTH[@]}" --output json docs list --db hr
    want_rc 0 && want_out '^        "v": 0.1$' && want_out '^  "NextStart": null$'
}
t "docs list: json output keeps numbers" docs_list_json

# ---- audit -----------------------------------------------------------------

AUDIT='{"Results": [
  {"Index": 11, "Time": "2026-11-25T16:59:01.123Z", "Caller": "AAAA1111BBBB2222CCCC", "CallerName": "admin", "Operation": "CertPut", "Target": "app1", "Status": "OK"},
  {"Index": 12, "Time": "2026-11-25T17:00:00.000Z", "Caller": "DDDD3333EEEE4444FFFF", "CallerName": "", "Operation": "DatabaseDelete", "Target": "", "Status": "Forbidden"}],
  "Total": 13}'
audit_table() {
    routes 1 "{\"GET /admin/audit\": [$(ok "$AUDIT")]}"
    run --url "$U1" "${AUTH[@]}" audit --start 10 --page-size 2
    want_rc 0 || return 1
    want_equal "$(q 1 'r[0]["path"]')" "/admin/audit?start=10&pageSize=2" || return 1
    want_out "^INDEX +TIME +CALLER +OPERATION +TARGET +STATUS$" &&
        want_out "^11 +2026-11-25T16:59:01\\.123Z +admin +CertPut +app1 +OK$" &&
        want_out "^12 +2026-11-25T17:00:00\\.000Z +DDDD3333EEEE\\.\\.\\. +DatabaseDelete +- +Forbidden$" || return 1
    want_err "entries 11 to 12 of 13; next page: --start 12" || return 1
    ! grep -q ' $' "$TMP/out" || { say "trailing blanks"; return 1; }
    run --url "$U1" "${AUTH[@]}" --output json audit
    want_rc 0 && want_out '^  "Total": 13$' && want_equal "$(q 1 'r[-1]["path"]')" "/admin/audit"
}
t "audit: table, paging hint, json" audit_table

audit_empty() {
    routes 1 "{\"GET /admin/audit\": [$(ok '{"Results": [], "Total": 0}')]}"
    run --url "$U1" "${AUTH[@]}" audit
    want_rc 0 && [ -z "$OUT" ] && want_err "no audit entries"
}
t "audit: empty log" audit_empty

# ---- client CAs --------------------------------------------------------------

mkcert teamca team-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
TEAMCA_THUMB=$(openssl x509 -in "$TMP/teamca.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
TEAMCA_JSON=$(python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read()))' "$TMP/teamca.pem")
CA_REPLY="{\"Name\": \"team\", \"status\": \"IS_SET\", \"x509_pem_cert\": $TEAMCA_JSON, \"SecurityClearance\": \"Operator\", \"Permissions\": {\"shared\": \"ReadWrite\", \"a\": \"Read\"}, \"Certificates\": 1, \"UpdatedAtIndex\": 42}"
# sent_pem N: the DER (hex) of the certificates in node N's last request body's x509_pem_cert
sent_ders() {
    q "$1" 'sorted(__import__("ssl").PEM_cert_to_DER_cert("-----BEGIN CERTIFICATE-----" + b.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n").hex() for b in json.loads(r[-1]["body"])["x509_pem_cert"].split("-----BEGIN CERTIFICATE-----")[1:])'
}
file_ders() {
    python3 -c 'import ssl, sys
t = open(sys.argv[1]).read()
print(sorted(ssl.PEM_cert_to_DER_cert("-----BEGIN CERTIFICATE-----" + b.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n").hex() for b in t.split("-----BEGIN CERTIFICATE-----")[1:]))' "$1"
}

clientca_put() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"PUT /admin/client-ca\": [$(ok "$CA_REPLY")]}"
    cat "$TMP/teamca.pem" "$TMP/teamca.key" >"$TMP/teamca-with-key.pem"
    run --url "$U1" "${AUTH[@]}" client-ca put team --file "$TMP/teamca-with-key.pem" \
        --clearance Operator --perm shared=ReadWrite --perm a=Read
    want_rc 0 || return 1
    want_out "^Name: +team$" && want_out "^Status: +IS_SET$" && want_out "^Clearance: +Operator$" &&
        want_out "^Permissions: +a:Read,shared:ReadWrite$" && want_out "^Certificates: +1$" &&
        want_out "^THUMBPRINT +SUBJECT +NOT AFTER$" &&
        want_out "^$TEAMCA_THUMB +/CN=team-ca +[0-9]{4}-[0-9]{2}-[0-9]{2}$" || return 1
    want_err "note: --file '.*' holds a private key; only its certificates are sent" || return 1
    want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"]')" "PUT /admin/client-ca" || return 1
    want_equal "$(q 1 'sorted((k, v) for k, v in json.loads(r[1]["body"]).items() if k != "x509_pem_cert")')" \
        "[('Name', 'team'), ('Permissions', {'shared': 'ReadWrite', 'a': 'Read'}), ('SecurityClearance', 'Operator')]" || return 1
    want_equal "$(sent_ders 1)" "$(file_ders "$TMP/teamca.pem")" || return 1
    want_equal "$(q 1 '"PRIVATE KEY" in r[1]["body"]')" False || return 1
    # defaults: ValidUser, no permissions; the file from standard input
    "$CERTCTL_BIN" --url "$U1" "${AUTH[@]}" --output json client-ca put --name team --file - \
        <"$TMP/teamca.pem" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    want_rc 0 && want_out '^  "UpdatedAtIndex": 42$' || return 1
    want_equal "$(q 1 'sorted((k, v) for k, v in json.loads(r[-1]["body"]).items() if k != "x509_pem_cert")')" \
        "[('Name', 'team'), ('Permissions', {}), ('SecurityClearance', 'ValidUser')]"
}
t "client-ca put: body, only certificates sent, table" clientca_put

clientca_patch() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"PATCH /admin/client-ca\": [$(ok "$CA_REPLY")]}"
    run --url "$U1" "${AUTH[@]}" client-ca patch team --file "$TMP/teamca.pem" --mode APPEND
    want_rc 0 && want_out "^Status: +IS_SET$" || return 1
    want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"]')" "PATCH /admin/client-ca" || return 1
    # only what is to change: clearance and permissions are kept by the server
    want_equal "$(q 1 'sorted(k for k in json.loads(r[1]["body"]))')" "['Mode', 'Name', 'x509_pem_cert']" || return 1
    want_equal "$(q 1 'json.loads(r[1]["body"])["Mode"]')" APPEND || return 1
    run --url "$U1" "${AUTH[@]}" client-ca patch --name team --file "$TMP/teamca.pem" --mode REPLACE \
        --clearance ValidUser --no-perms
    want_rc 0 || return 1
    want_equal "$(q 1 'sorted((k, v) for k, v in json.loads(r[-1]["body"]).items() if k != "x509_pem_cert")')" \
        "[('Mode', 'REPLACE'), ('Name', 'team'), ('Permissions', {}), ('SecurityClearance', 'ValidUser')]"
}
t "client-ca patch: APPEND / REPLACE, only the changes" clientca_patch

clientca_list_get_delete() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"GET /admin/client-ca\": [$(ok "{\"Results\": [$CA_REPLY]}"), $(ok '{"Results": []}')],
               \"GET /admin/client-ca?name=t%20m\": [$(ok "$CA_REPLY"), $(ok "$CA_REPLY"), $(ok '{"Name": "t m", "status": "NOT_SET", "x509_pem_cert": ""}')],
               \"DELETE /admin/client-ca\": [$(ok '{"Name": "t m", "status": "NOT_SET", "x509_pem_cert": ""}'), {\"status\": 404, \"body\": {\"Error\": \"client CA 't m' does not exist\", \"Type\": \"NotFound\"}}]}"
    run --url "$U1" "${AUTH[@]}" client-ca list
    want_rc 0 && want_out "^NAME +STATUS +CLEARANCE +PERMISSIONS +CERTIFICATES$" &&
        want_out "^team +IS_SET +Operator +a:Read,shared:ReadWrite +1$" || return 1
    run --url "$U1" "${AUTH[@]}" client-ca list
    want_rc 0 && [ -z "$OUT" ] && want_err "no client CAs" || return 1
    run --url "$U1" "${AUTH[@]}" client-ca get 't m'
    want_rc 0 && want_out "^Name: +team$" && want_out "^$TEAMCA_THUMB " || return 1
    want_equal "$(q 1 'r[-1]["path"]')" "/admin/client-ca?name=t%20m" || return 1
    run --url "$U1" "${AUTH[@]}" client-ca get 't m' --pem
    want_rc 0 && want_equal "$OUT" "$(openssl x509 -in "$TMP/teamca.pem")" || return 1
    run --url "$U1" "${AUTH[@]}" client-ca get 't m'
    want_rc 0 && want_out "^Status: +NOT_SET$" || return 1
    ! grep -q "^Clearance" "$TMP/out" || { say "settings shown for NOT_SET"; show; return 1; }
    run --url "$U1" "${AUTH[@]}" client-ca delete 't m'
    want_rc 0 && want_equal "$OUT" "deleted client CA t m" || return 1
    want_equal "$(q 1 'r[-1]["method"] + " " + r[-1]["path"]')" "DELETE /admin/client-ca?name=t%20m" || return 1
    run --url "$U1" "${AUTH[@]}" client-ca delete 't m'
    want_rc 1 && want_equal "$ERR" "certctl: 404 Not Found: client CA 't m' does not exist"
}
t "client-ca list / get / delete" clientca_list_get_delete

# ---- cluster certificate rotation -------------------------------------------

mkcert newcluster certraft-test-cluster -addext "subjectAltName=IP:127.0.0.1"
NEW_THUMB=$(openssl x509 -in "$TMP/newcluster.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
cat "$TMP/cluster.pem" "$TMP/newcluster.pem" >"$TMP/both.pem"
NEW_B64=$(openssl x509 -in "$TMP/newcluster.pem" -outform DER | base64 -w0)
openssl pkcs12 -export -in "$TMP/newcluster.pem" -inkey "$TMP/newcluster.key" -out "$TMP/newcluster.pfx" \
    -passout "pass:$UPLOAD_PW" 2>/dev/null
ROT_STATUS="{\"Phase\": \"Confirming\", \"NewThumbprint\": \"$NEW_THUMB\", \"OldThumbprint\": \"$CLUSTER_THUMB\", \"Confirmed\": [1, 3], \"Switched\": [], \"Voters\": [1, 2, 3], \"ReplaceImmediately\": false}"

renew_cert() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates/renew-cluster-cert\": [$(ok "{\"Thumbprint\": \"$NEW_THUMB\", \"Phase\": \"Installed\"}" 202)]}"
    run --url "$U1" "${AUTH[@]}" cluster renew-cert --days 30 --now
    want_rc 0 && want_equal "$OUT" "replacement started: new certificate $NEW_THUMB, phase Installed" || return 1
    want_equal "$(q 1 'r[1]["method"] + " " + r[1]["path"] + " " + str(json.loads(r[1]["body"]))')" \
        "POST /admin/certificates/renew-cluster-cert {'ExpirationDays': 30, 'ReplaceImmediately': True}" || return 1
    run --url "$U1" "${AUTH[@]}" --output json cluster renew-cert
    want_rc 0 && want_out "^  \"Phase\": \"Installed\"$" && want_equal "$(q 1 'r[-1]["body"]')" "{}"
}
t "cluster renew-cert: body and reply" renew_cert

replace_cert() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates/replace-cluster-cert\": [$(ok "{\"Thumbprint\": \"$NEW_THUMB\", \"Phase\": \"Installed\"}" 202),
                    {\"status\": 409, \"body\": {\"Error\": \"a replacement is in progress\", \"Type\": \"Conflict\"}}]}"
    run --url "$U1" "${AUTH[@]}" cluster replace-cert --file "$TMP/newcluster.pfx" --password "$UPLOAD_PW"
    want_rc 0 && want_out "^replacement started: new certificate $NEW_THUMB, phase Installed$" || return 1
    want_equal "$(q 1 'base64.b64decode(json.loads(r[1]["body"])["Certificate"]) == open(sys.argv[1].replace("log1.jsonl", "newcluster.pfx"), "rb").read()')" True || return 1
    want_equal "$(q 1 'sorted(json.loads(r[1]["body"]))')" "['Certificate', 'Password']" || return 1
    run --url "$U1" "${AUTH[@]}" cluster replace-cert --file "$TMP/newcluster.pfx" --password "$UPLOAD_PW"
    want_rc 1 && want_equal "$ERR" "certctl: 409 Conflict: a replacement is in progress"
}
t "cluster replace-cert: the PFX as sent, errors" replace_cert

rotation_status() {
    routes 1 "{\"GET /admin/certificates/replacement/status\": [$(ok "$ROT_STATUS"), $(ok '{"Phase": "None", "NewThumbprint": "", "OldThumbprint": "", "Confirmed": [], "Switched": [], "Voters": [1, 2, 3], "ReplaceImmediately": false}')]}"
    run --url "$U1" "${AUTH[@]}" cluster rotation-status
    want_rc 0 && want_out "^Phase: +Confirming$" && want_out "^New certificate: +$NEW_THUMB$" &&
        want_out "^Old certificate: +$CLUSTER_THUMB$" && want_out "^Replace immediately: +no$" &&
        want_out "^NODE +VOTER +CONFIRMED +SWITCHED$" && want_out "^1 +yes +yes +no$" &&
        want_out "^2 +yes +no +no$" && want_out "^3 +yes +yes +no$" || return 1
    run --url "$U1" "${AUTH[@]}" cluster rotation-status
    want_rc 0 && want_out "^Phase: +None$" || return 1
    ! grep -q "^New certificate" "$TMP/out" || { say "empty thumbprint shown"; show; return 1; }
}
t "cluster rotation-status table" rotation_status

renew_wait_trust() {
    local d=$TMP/rot
    mkdir -p "$d"
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates/renew-cluster-cert\": [$(ok "{\"Thumbprint\": \"$NEW_THUMB\", \"Phase\": \"Installed\"}" 202)],
               \"GET /admin/certificates?thumbprint=$NEW_THUMB\": [{\"status\": 404, \"body\": {\"Error\": \"no certificate with thumbprint $NEW_THUMB\", \"Type\": \"NotFound\"}},
                    $(ok "{\"Results\": [{\"Thumbprint\": \"$NEW_THUMB\", \"SecurityClearance\": \"ClusterNode\", \"Certificate\": \"$NEW_B64\"}]}")],
               \"GET /admin/certificates/replacement/status\": [$(ok "$ROT_STATUS"),
                    $(ok "{\"Phase\": \"Done\", \"NewThumbprint\": \"$NEW_THUMB\", \"OldThumbprint\": \"$CLUSTER_THUMB\", \"Confirmed\": [1, 2, 3], \"Switched\": [1, 2, 3], \"Voters\": [1, 2, 3], \"ReplaceImmediately\": false}")]}"
    run --url "$U1" "${AUTH[@]}" cluster renew-cert --wait --cacert-out "$d/trust.pem"
    want_rc 0 || return 1
    want_out "^replacement started: new certificate $NEW_THUMB, phase Installed$" &&
        want_out "^wrote $d/trust.pem: use it as --cacert from now on$" &&
        want_out "^replacement done: every node serves $NEW_THUMB$" || return 1
    # the registry was asked again until it listed the new certificate
    want_equal "$(q 1 'len([x for x in r if x["path"] == "/admin/certificates?thumbprint=" + sys.argv[3]])' "$NEW_THUMB")" 2 || return 1
    want_equal "$(file_ders "$d/trust.pem")" "$(file_ders "$TMP/both.pem")" && want_equal "$(mode_of "$d/trust.pem")" 600 || return 1
    # the new certificate first: OpenSSL uses only the first of two with one subject
    want_equal "$(openssl x509 -in "$d/trust.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')" "$NEW_THUMB" || return 1
    ls "${TMPDIR:-/tmp}"/certctl-trust-* >/dev/null 2>&1 && { say "temporary trust file left behind"; return 1; }
    # never overwritten, and nothing is started then
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")]}"
    run --url "$U1" "${AUTH[@]}" cluster renew-cert --cacert-out "$d/trust.pem"
    want_rc 1 && want_err "^certctl: --cacert-out: '$d/trust.pem' already exists" &&
        want_equal "$(q 1 'len(r)')" 0
}
t "cluster renew-cert --wait --cacert-out: trusts the new certificate" renew_wait_trust

renew_wait_timeout() {
    routes 1 "{\"GET /cluster/topology\": [$(ok "$(topology "\"$U1\"" - -)")],
               \"POST /admin/certificates/renew-cluster-cert\": [$(ok "{\"Thumbprint\": \"$NEW_THUMB\", \"Phase\": \"Installed\"}" 202)],
               \"GET /admin/certificates?thumbprint=$NEW_THUMB\": [$(ok "{\"Results\": [{\"Thumbprint\": \"$NEW_THUMB\", \"Certificate\": \"$NEW_B64\"}]}")],
               \"GET /admin/certificates/replacement/status\": [$(ok "$ROT_STATUS")]}"
    run --url "$U1" "${AUTH[@]}" cluster renew-cert --wait --wait-timeout 1
    want_rc 1 && want_err "^certctl: the replacement was not done within 1 s \\(last: phase Confirming\\); see certctl cluster rotation-status$"
}
t "cluster renew-cert --wait: timeout says where it stands" renew_wait_timeout

fi # fake nodes started
fi # python3 and openssl present

no_secret_leaked() {
    if grep -Fq -e 'pw-Never-Show' -e 'pfx-S3cret-pw' -e 'upload-S3cret-pw' -e 'gen-S3cret-pw' "$ALL_OUTPUT"; then
        say "a password appeared in certctl's output"
        return 1
    fi
    if grep -q -e "PRIVATE KEY" -e "FAKE-KEY-MATERIAL" "$ALL_OUTPUT"; then
        say "a private key appeared in certctl's output"
        return 1
    fi
}
t "no password or key in any output" no_secret_leaked

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
