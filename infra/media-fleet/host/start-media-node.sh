#!/bin/bash
# ExecStart of harmony-media-node.service: fetches the gRPC shared secret into this process's
# environment only (never onto disk or into the unit), then becomes the media node on the Node.js 24
# installed from the asset's lockfile, so systemd's SIGTERM reaches node itself and starts the drain.
set -euo pipefail
MEDIA_NODE_SECRET=$(aws secretsmanager get-secret-value --secret-id "$MEDIA_NODE_SECRET_ARN" --query SecretString --output text)
export MEDIA_NODE_SECRET
exec "$NODE_BIN" --enable-source-maps "$(dirname "$0")/../main.mjs"
