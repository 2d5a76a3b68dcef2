#!/bin/bash
# harmony-media-logs.service: copies the media host's journal lines (the media node's JSON logs, the host
# scripts' JSON lines, cloud-init's install output) to CloudWatch Logs every HARMONY_LOG_SHIP_INTERVAL_SECONDS
# (default 15: each upload starts the Python AWS CLI, CPU taken from the workers), one stream per instance.
# The journal cursor on disk moves only after an upload succeeded: a failed upload is retried with the same
# lines, and a restart resumes after the last line shipped.
set -uo pipefail
# shellcheck source=imds.sh
source "$(dirname "${BASH_SOURCE[0]}")/imds.sh"
wait_for_instance_id
aws logs create-log-stream --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$instance_id" 2>/dev/null || true
state=${HARMONY_STATE_DIR:-/var/lib/harmony-media-node}
cursor=$state/journal.cursor
pending=$state/journal.cursor.pending
batch=$(mktemp)
while true; do
  if [ -s "$cursor" ]; then cp "$cursor" "$pending"; else rm -f "$pending"; fi
  journalctl --cursor-file="$pending" -o json --no-pager \
      -u harmony-media-node.service -u harmony-media-health.service -u harmony-media-lifecycle.service \
      -u harmony-media-load.service -u cloud-final.service \
    | jq -sc '[.[] | {timestamp: ((.__REALTIME_TIMESTAMP | tonumber) / 1000 | floor), message: (.MESSAGE | tostring)}] | .[:9000]' > "$batch"
  if [ "$(jq length "$batch")" -eq 0 ]; then
    [ -e "$pending" ] && mv "$pending" "$cursor"
  elif aws logs put-log-events --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$instance_id" --log-events "file://$batch" >/dev/null; then
    mv "$pending" "$cursor"
  else
    echo '{"level":"warn","msg":"media-host.log-ship-failed"}'
  fi
  sleep "${HARMONY_LOG_SHIP_INTERVAL_SECONDS:-15}"
done
