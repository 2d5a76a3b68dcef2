#!/bin/bash
# ExecStart of harmony-media-node.service: becomes the media node on the Node.js 24 shipped in the asset,
# so systemd's SIGTERM reaches node itself and starts the drain. No secret passes through here: the
# node reads its two gRPC secrets (MEDIA_NODE_SECRET_ARN, MEDIA_SPAN_SECRET_ARN) from Secrets Manager itself and
# never puts them in any environment (mediasoup copies the environment into every worker).
set -euo pipefail
exec "$NODE_BIN" --enable-source-maps "$(dirname "$0")/../main.mjs"
