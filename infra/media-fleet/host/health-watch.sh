#!/bin/bash
# harmony-media-health.service: the node's watchdog. Every HARMONY_HEALTH_INTERVAL_SECONDS it asks the media
# node's metrics endpoint (served by the same process and event loop as gRPC); after
# HARMONY_HEALTH_FAILURES failures in a row (longer than a systemd restart takes) it marks this instance
# Unhealthy, so the Auto Scaling group replaces it (through the drain lifecycle hook). Not while the
# instance is leaving (target lifecycle state other than InService).
set -uo pipefail
interval=${HARMONY_HEALTH_INTERVAL_SECONDS:-10}
threshold=${HARMONY_HEALTH_FAILURES:-6}
# shellcheck source=imds.sh
source "$(dirname "${BASH_SOURCE[0]}")/imds.sh"
wait_for_instance_id
failures=0
while true; do
  if curl -sf -m 5 -o /dev/null "http://127.0.0.1:${MEDIA_METRICS_PORT}/metrics"; then
    failures=0
  else
    failures=$((failures + 1))
    echo "{\"level\":\"warn\",\"msg\":\"media-host.unhealthy-check\",\"nodeId\":\"$instance_id\",\"failures\":$failures}"
  fi
  if [ "$failures" -ge "$threshold" ] && [ "$(imds autoscaling/target-lifecycle-state || echo InService)" = "InService" ]; then
    echo "{\"level\":\"error\",\"msg\":\"media-host.marked-unhealthy\",\"nodeId\":\"$instance_id\",\"failures\":$failures}"
    aws autoscaling set-instance-health --instance-id "$instance_id" --health-status Unhealthy --no-should-respect-grace-period \
      || echo "{\"level\":\"error\",\"msg\":\"media-host.set-health-failed\",\"nodeId\":\"$instance_id\"}"
    failures=0
  fi
  sleep "$interval"
done
