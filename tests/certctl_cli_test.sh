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
# encoding, request bodies and error messages. Part 2 is skipped when
# python3 or openssl is missing.
#
# Exits non-zero when any test failed; the last line is "N passed, N failed".
set -u

CERTCTL_BIN=${1:-${CERTCTL:-}}
if [ -z "$CERTCTL_BIN" ] || [ ! -x "$CERTCTL_BIN" ]; then
    echo "usage: $0 PATH_TO_CERTCTL" >&2
    exit 2
fi
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
    "cluster|status add-node remove-node transfer-leadership"
    "certs|upload list delete whoami"
    "cluster status|--help"
    "cluster add-node|--id --raft-address --api-url --thumbprint --no-wait --wait-timeout"
    "cluster remove-node|--id"
    "cluster transfer-leadership|--id"
    "certs upload|--name --file --password --clearance --perm ClusterAdmin Operator ValidUser Admin ReadWrite Read"
    "certs list|--thumbprint --name --secondary --expiring-within-days"
    "certs delete|--thumbprint"
    "certs whoami|--help"
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
t "unknown command" usage_error "unknown command 'purge' in group 'certs'" "certs " certs purge
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
# as one JSON line.
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
                                    "type": self.headers.get("Content-Type")}) + "\n")
            base = self.path.split("?")[0]
            key = next((k for k in (self.command + " " + self.path, self.command + " " + base)
                        if k in routes), None)
            if key is None:
                reply = {"status": 404, "body": {"Error": "no route", "Type": "NotFound"}}
            else:
                i = state["count"].get(key, 0)
                state["count"][key] = i + 1
                reply = routes[key][min(i, len(routes[key]) - 1)]
        data = reply["body"] if isinstance(reply["body"], str) else json.dumps(reply["body"])
        data = data.encode()
        self.send_response(reply["status"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = answer

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

# routes N JSON: sets node N's route table and clears its log.
routes() { echo "$2" >"$TMP/routes$1.json"; : >"$TMP/log$1.jsonl"; }
# q N EXPR: evaluates a python expression over node N's logged requests `r`.
q() {
    python3 -c 'import json, sys, base64
r = [json.loads(l) for l in open(sys.argv[1])]
print(eval(sys.argv[2]))' "$TMP/log$1.jsonl" "$2"
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

fi # fake nodes started
fi # python3 and openssl present

no_secret_leaked() {
    if grep -Fq -e 'pw-Never-Show' -e 'pfx-S3cret-pw' -e 'upload-S3cret-pw' "$ALL_OUTPUT"; then
        say "a password appeared in certctl's output"
        return 1
    fi
    if grep -q "PRIVATE KEY" "$ALL_OUTPUT"; then
        say "a private key appeared in certctl's output"
        return 1
    fi
}
t "no password or key in any output" no_secret_leaked

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
