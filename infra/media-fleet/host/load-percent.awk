# Reads the media node's Prometheus text and prints its load in percent of capacity (0..100).
# Uses the node's own media_node_load_percent gauge when it exposes one; otherwise derives it as
# the larger of consumer occupancy (media_node_consumers / capacity, as placement uses) and the
# mean worker CPU (media_node_worker_cpu_percent). Prints nothing when the text has neither.
# Variables: capacity (audio consumers the node is sized for).
$1 == "media_node_load_percent" { direct = $2 + 0; has_direct = 1 }
$1 == "media_node_consumers" { consumers = $2 + 0; has_consumers = 1 }
$1 ~ /^media_node_worker_cpu_percent(\{.*\})?$/ { cpu += $2 + 0; workers++ }
END {
  if (has_direct) { load = direct }
  else if (has_consumers || workers > 0) {
    occupancy = (capacity > 0) ? 100 * consumers / capacity : 0
    mean_cpu = (workers > 0) ? cpu / workers : 0
    load = (occupancy > mean_cpu) ? occupancy : mean_cpu
  }
  else { exit }
  if (load < 0) load = 0
  if (load > 100) load = 100
  printf "%.1f\n", load
}
