# Sourced by the host's watchers (health-watch.sh, lifecycle-watch.sh, ship-logs.sh): instance metadata over
# IMDSv2, a fresh token per call (they run for the instance's lifetime, longer than any token).
imds() {
  local token
  token=$(curl -sf -m 2 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') || return 1
  curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

# Sets instance_id, waiting for the metadata service as long as it takes.
wait_for_instance_id() {
  instance_id=""
  until [ -n "$instance_id" ]; do instance_id=$(imds instance-id) || sleep 2; done
}
