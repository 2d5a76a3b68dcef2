#!/bin/bash
# harmony-media-lifecycle.service: completes the Auto Scaling termination lifecycle hook after the
# media node has drained. Polls the target lifecycle state in instance metadata; when the group
# wants this instance Terminated, stops the media node (SIGTERM: stop taking rooms, wait for rooms
# to empty, bounded by MEDIA_DRAIN_TIMEOUT_MS; systemd's TimeoutStopSec is the hard bound) and then
# sends CONTINUE. Should this script fail, the hook's heartbeat timeout (drain bound + margin,
# default result CONTINUE) still lets the termination go ahead.
set -uo pipefail
# shellcheck source=imds.sh
source "$(dirname "${BASH_SOURCE[0]}")/imds.sh"
wait_for_instance_id
while true; do
  state=$(imds autoscaling/target-lifecycle-state || true)
  if [ "$state" = "Terminated" ]; then
    echo "{\"level\":\"info\",\"msg\":\"media-host.draining\",\"nodeId\":\"$instance_id\"}"
    systemctl stop harmony-media-node.service
    for attempt in 1 2 3 4 5 6; do
      if aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --instance-id "$instance_id" \
        --lifecycle-hook-name "$HARMONY_LIFECYCLE_HOOK" --auto-scaling-group-name "$HARMONY_ASG_NAME"; then
        echo "{\"level\":\"info\",\"msg\":\"media-host.drained\",\"nodeId\":\"$instance_id\"}"
        exit 0
      fi
      sleep $(( attempt * 5 ))
    done
    echo "{\"level\":\"error\",\"msg\":\"media-host.lifecycle-complete-failed\",\"nodeId\":\"$instance_id\"}"
    exit 1
  fi
  sleep 5
done
