# Sourced by the instance's user data (written out before anything can fail, so it works before the bundle is
# downloaded) and by install.sh: how a boot that failed ends. One line per event as JSON on stdout (cloud-init
# copies it to the console and /var/log/cloud-init-output.log), and:
#   boot_failed STEP DETAIL
#     1. logs media-host.boot-failed, and ships it with the tail of the boot output straight to CloudWatch Logs
#        (the log shipper may not be running yet);
#     2. abandons the launch lifecycle action: the group terminates this instance and launches another;
#     3. signals FAILURE to CloudFormation (a creation or rolling update waiting for this node rolls back);
#     4. marks the instance Unhealthy (in case it was already in service);
#     5. powers off: a stopped instance fails its EC2 status check and is replaced even if every call above
#        failed (no AWS CLI yet, no network), and the launch hook's heartbeat timeout abandons it anyway.
#   boot_ready: completes the launch lifecycle action (CONTINUE), then signals SUCCESS; once.
# Needs HARMONY_ASG_NAME, HARMONY_LAUNCH_HOOK, HARMONY_STACK_NAME, HARMONY_SIGNAL_RESOURCE, HARMONY_LOG_GROUP, AWS_REGION.
HARMONY_BOOT_STATE=${HARMONY_BOOT_STATE:-/var/lib/harmony-boot}
HARMONY_BOOT_OUTPUT=${HARMONY_BOOT_OUTPUT:-/var/log/cloud-init-output.log}

boot_instance_id() {
  if [ -z "${boot_iid:-}" ]; then
    local token
    token=$(curl -sf -m 2 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') \
      && boot_iid=$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id) || boot_iid=""
  fi
  echo "${boot_iid:-unknown}"
}

boot_log() { # LEVEL MSG [extra JSON fields]
  echo "{\"level\":\"$1\",\"msg\":\"$2\",\"nodeId\":\"$(boot_instance_id)\"${3:+,$3}}"
}

boot_json_string() { # a string as a JSON string literal, without jq (it may not be installed yet)
  local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; s=${s//$'\r'/}; s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}

boot_ship() { # LINE...: straight to CloudWatch Logs, one stream per instance
  command -v aws >/dev/null 2>&1 || return 1
  local iid now events="" line
  iid=$(boot_instance_id); now=$(( $(date +%s) * 1000 ))
  for line in "$@"; do events+="${events:+,}{\"timestamp\":$now,\"message\":$(boot_json_string "$line")}"; done
  aws logs create-log-stream --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$iid" >/dev/null 2>&1 || true
  aws logs put-log-events --log-group-name "$HARMONY_LOG_GROUP" --log-stream-name "$iid" --log-events "[$events]" >/dev/null
}

boot_failed() { # STEP DETAIL
  # Once: the ERR trap also fires in subshells, and the user data's after install.sh's own.
  [ -e "$HARMONY_BOOT_STATE/ended" ] && exit 1
  trap - ERR
  set +eu
  mkdir -p "$HARMONY_BOOT_STATE"
  touch "$HARMONY_BOOT_STATE/ended"
  local iid line
  iid=$(boot_instance_id)
  line=$(boot_log error media-host.boot-failed "\"step\":\"$1\",\"detail\":$(boot_json_string "$2"),\"action\":\"lifecycle abandoned, instance unhealthy\"")
  echo "$line"
  local tail=()
  [ -r "$HARMONY_BOOT_OUTPUT" ] && mapfile -t tail < <(tail -n 20 "$HARMONY_BOOT_OUTPUT")
  boot_ship "${tail[@]}" "$line" || echo "$(boot_log error media-host.log-ship-failed)"
  if command -v aws >/dev/null 2>&1; then
    aws autoscaling complete-lifecycle-action --lifecycle-action-result ABANDON --instance-id "$iid" \
      --lifecycle-hook-name "$HARMONY_LAUNCH_HOOK" --auto-scaling-group-name "$HARMONY_ASG_NAME" \
      || echo "$(boot_log warn media-host.lifecycle-abandon-failed)"
    aws cloudformation signal-resource --region "$AWS_REGION" --stack-name "$HARMONY_STACK_NAME" \
      --logical-resource-id "$HARMONY_SIGNAL_RESOURCE" --unique-id "$iid" --status FAILURE \
      || echo "$(boot_log info media-host.signal-not-waited-for "\"status\":\"FAILURE\"")"
    aws autoscaling set-instance-health --instance-id "$iid" --health-status Unhealthy --no-should-respect-grace-period \
      || echo "$(boot_log info media-host.set-health-not-applied)"
  fi
  poweroff
  exit 1
}

boot_ready() {
  mkdir -p "$HARMONY_BOOT_STATE"
  [ -e "$HARMONY_BOOT_STATE/ended" ] && return 0
  touch "$HARMONY_BOOT_STATE/ended"
  local iid
  iid=$(boot_instance_id)
  # Retried: a launch left waiting is abandoned at the heartbeat timeout, ready or not. Not waited for on an
  # instance launched before the hook existed, so a refusal after the retries is logged, not a failure.
  local attempt
  for attempt in 1 2 3 4 5; do
    aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --instance-id "$iid" \
      --lifecycle-hook-name "$HARMONY_LAUNCH_HOOK" --auto-scaling-group-name "$HARMONY_ASG_NAME" && break
    [ "$attempt" -eq 5 ] && echo "$(boot_log warn media-host.lifecycle-continue-failed)"
    sleep $(( attempt * 5 ))
  done
  # Only a creation or rolling update waits for it; outside one CloudFormation refuses it.
  aws cloudformation signal-resource --region "$AWS_REGION" --stack-name "$HARMONY_STACK_NAME" \
    --logical-resource-id "$HARMONY_SIGNAL_RESOURCE" --unique-id "$iid" --status SUCCESS \
    || echo "$(boot_log info media-host.signal-not-waited-for "\"status\":\"SUCCESS\"")"
}
