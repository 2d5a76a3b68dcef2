#!/bin/bash
# harmony-media-logs.service: copies the media host's journal lines (the media node's JSON logs, the host
# scripts' JSON lines, cloud-init's install output) to CloudWatch Logs every 5 s, one stream per instance.
# The journal cursor is kept on disk, so a restart resumes where it stopped.
set -uo pipefail
# shellcheck source=imds.sh
source "$(dirname "${BASH_SOURCE[0]}")/imds.sh"
wait_for_instance_id
aws logs create-log-stream --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$instance_id" 2>/dev/null || true
cursor=/var/lib/harmony-media-node/journal.cursor
batch=$(mktemp)
while true; do
  journalctl --cursor-file="$cursor" -o json --no-pager \
      -u harmony-media-node.service -u harmony-media-health.service -u harmony-media-lifecycle.service \
      -u harmony-media-load.service -u cloud-final.service \
    | jq -sc '[.[] | {timestamp: ((.__REALTIME_TIMESTAMP | tonumber) / 1000 | floor), message: (.MESSAGE | tostring)}] | .[:9000]' > "$batch"
  if [ "$(jq length "$batch")" -gt 0 ]; then
    aws logs put-log-events --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$instance_id" --log-events "file://$batch" >/dev/null \
      || echo '{"level":"warn","msg":"media-host.log-ship-failed"}'
  fi
  sleep 5
done
