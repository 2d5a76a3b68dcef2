#!/bin/bash
# Installs the media node on an EC2 instance as systemd services. Run once, as root, by the instance's
# user data after it has unpacked the bundle into /opt/harmony-media-node and written the two
# environment files (/etc/harmony-media-node/node.env and fleet.env).
set -euo pipefail
APP=/opt/harmony-media-node
CONF=/etc/harmony-media-node

# Identity from IMDSv2 (the launch template requires session tokens).
token=$(curl -sSf -m 5 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -sSf -m 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
instance_id=$(imds instance-id)
private_ip=$(imds local-ipv4)
set -a; . "$CONF/node.env"; set +a
cat >> "$CONF/node.env" <<ENV
MEDIA_NODE_ID=$instance_id
MEDIA_GRPC_ADVERTISED_ADDRESS=$private_ip:$MEDIA_GRPC_PORT
ENV
chmod 0644 "$CONF"/*.env

# The bundle's only dependency is mediasoup; its install script fetches the prebuilt worker for this
# kernel/arch from the mediasoup release, and builds it from source if none fits (toolchain installed).
cd "$APP"
npm-20 install --omit=dev --no-audit --no-fund --foreground-scripts

id harmony-media >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin harmony-media

install -m 0644 "$APP"/host/*.service /etc/systemd/system/
# systemd may SIGKILL the node only after its own drain bound has passed.
mkdir -p /etc/systemd/system/harmony-media-node.service.d
printf '[Service]\nTimeoutStopSec=%s\n' $(( MEDIA_DRAIN_TIMEOUT_MS / 1000 + 60 )) \
  > /etc/systemd/system/harmony-media-node.service.d/drain-bound.conf
systemctl daemon-reload
systemctl enable --now harmony-media-node.service harmony-media-load.service harmony-media-lifecycle.service
echo "{\"level\":\"info\",\"msg\":\"media-host.installed\",\"nodeId\":\"$instance_id\"}"
