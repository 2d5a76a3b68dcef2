#!/bin/bash
# harmony-media-health.service: the node's watchdog. Every HARMONY_HEALTH_INTERVAL_SECONDS it asks the media
# node's metrics endpoint (served by the same process and event loop as gRPC); after
# HARMONY_HEALTH_FAILURES failures in a row (longer than a systemd restart takes) it marks this instance
# Unhealthy, so the Auto Scaling group replaces it (through the drain lifecycle hook). Not while the
# instance is leaving (target lifecycle state other than InService).
set -uo pipefail
interval=${HARMONY_HEALTH_INTERVAL_SECONDS:-10}
threshold=${HARMONY_HEALTH_FAILURES:-6}
imds() {
  local token
  token=$(curl -sf -m 2 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') || return 1
  curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
instance_id=""
until [ -n "$instance_id" ]; do instance_id=$(imds instance-id) || sleep 2; done
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
