// The scaling signal of the media fleet. Each node exposes its load as a Prometheus gauge; a small
// publisher on the instance (see user-data.ts) copies it to CloudWatch once a minute, where target
// tracking averages it over the Auto Scaling group. Keeping CloudWatch out of the media node means
// the node needs no AWS metrics SDK and the same gauge serves local Prometheus scrapes.

/** CloudWatch namespace and metric the fleet scales on (unit Percent, 0..100 of the node's capacity). */
export const LOAD_METRIC_NAMESPACE = 'HarmonyVoice';
export const LOAD_METRIC_NAME = 'MediaNodeLoad';
/** The only dimension: average over the group is what target tracking needs. */
export const LOAD_METRIC_DIMENSION = 'AutoScalingGroupName';

/**
 * The Prometheus gauge the media node must expose on MEDIA_METRICS_PORT at /metrics: its load in
 * percent of capacity (0..100): the mean of its workers' loads, each the largest of forwarded packets/s,
 * CPU and consumers against the worker's limits (routing/load.ts) — the same load placement and
 * node-side admission use.
 */
export const LOAD_GAUGE = 'media_node_load_percent';

/** How often the instance publishes; target tracking evaluates 1-minute periods. */
export const LOAD_PUBLISH_INTERVAL_SECONDS = 60;
