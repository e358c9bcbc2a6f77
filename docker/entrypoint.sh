#!/bin/sh
# Container entry point for docker-compose clusters.
#
# NODE_ID=1 initializes a new cluster on first start (admin certificate into
# /shared/admin) and, while running, admits every node that dropped its
# join request into /shared/join-N (the one `certctl cluster add-node` an
# operator would run). Other nodes run `certnode join` against node 1 on
# first start. Later starts are `certnode run`.
set -eu
: "${NODE_ID:?set NODE_ID}"
HOST="${NODE_HOST:-$(hostname)}"
RAFT="${HOST}:7001"
API="${HOST}:8001"
DATA=/data
FIRST="${FIRST_NODE_URL:-https://node1:8001}"

if [ -f "$DATA/node.json" ] && [ ! -f "$DATA/join.key" ]; then
  exec certnode run --data "$DATA"
fi

if [ "$NODE_ID" = 1 ]; then
  if [ ! -f "$DATA/node.json" ]; then
    # Raft binds to and is dialled at the container's name; the API
    # listens on every interface so that published ports work.
    certnode init --data "$DATA" --id 1 --raft-address "$RAFT" \
      --api-address "0.0.0.0:8001" --api-url "https://$API" \
      --san "DNS:$HOST" --admin-out /shared/admin
  fi
  (
    export CERTCTL_URL="https://$API" CERTCTL_CERT=/shared/admin/admin.crt \
           CERTCTL_KEY=/shared/admin/admin.key CERTCTL_CACERT=/shared/admin/cluster-ca.crt
    while sleep 2; do
      for req in /shared/join-*; do
        [ -f "$req" ] || continue
        # shellcheck disable=SC2046
        certctl --insecure cluster add-node $(cat "$req") && rm -f "$req"
      done
    done
  ) &
  exec certnode run --data "$DATA"
fi

certnode join --data "$DATA" --id "$NODE_ID" --raft-address "$RAFT" \
  --api-address "0.0.0.0:8001" --api-url "https://$API" --cluster "$FIRST" |
  while IFS= read -r line; do
    echo "$line"
    case "$line" in
      *"cluster add-node"*) echo "${line#*add-node }" > "/shared/join-$NODE_ID" ;;
    esac
  done
