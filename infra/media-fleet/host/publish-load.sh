#!/bin/bash
# harmony-media-load.service: once a minute, copies this node's load (percent of capacity) from its
# metrics endpoint to the CloudWatch metric the Auto Scaling group's target tracking policy follows.
# A node that is down publishes nothing (missing data never scales the fleet in or out by itself).
set -uo pipefail
here=$(dirname "$0")
capacity=${MEDIA_CAPACITY:-0}
while true; do
  load=$(curl -sf -m 5 "http://127.0.0.1:${MEDIA_METRICS_PORT}/metrics" | awk -v capacity="$capacity" -f "$here/load-percent.awk")
  if [ -n "$load" ]; then
    aws cloudwatch put-metric-data --namespace "$LOAD_METRIC_NAMESPACE" --metric-name "$LOAD_METRIC_NAME" \
      --unit Percent --value "$load" --dimensions "AutoScalingGroupName=$HARMONY_ASG_NAME" \
      || echo '{"level":"warn","msg":"media-host.load-publish-failed"}'
  fi
  sleep "${LOAD_PUBLISH_INTERVAL_SECONDS:-60}"
done
