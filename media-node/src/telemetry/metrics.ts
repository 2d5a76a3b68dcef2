// Prometheus text exposition without a client library: a few counters, one histogram, and
// gauges read from the node at scrape time.
import { createServer, type Server } from 'node:http';
import { listen } from '../../../lib/listen';

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((bound, i) => {
      if (value <= bound) this.counts[i]!++;
    });
  }
  /** Starts a timer; calling the result records the elapsed seconds. */
  startTimer(): () => void {
    const start = process.hrtime.bigint();
    return () => this.observe(Number(process.hrtime.bigint() - start) / 1e9);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket{le="${bound}"} ${this.counts[i]}`));
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join('\n');
  }
}

export function gauge(name: string, help: string, samples: { labels?: Labels; value: number }[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
  for (const { labels, value } of samples) lines.push(`${name}${labelText(labels ?? {})} ${value}`);
  return lines.join('\n');
}

export interface Metrics {
  joinDuration: Histogram;
  sessionsLost: Counter;
  callFailures: Counter;
  admissionRefused: Counter;
  producersPoliced: Counter;
}

export function createMetrics(): Metrics {
  return {
    joinDuration: new Histogram(
      'media_node_join_duration_seconds',
      'Time to apply one Join (queue wait included)',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    sessionsLost: new Counter('media_node_sessions_lost_total', 'Sessions that died on the media side, by reason'),
    callFailures: new Counter('media_node_call_failures_total', 'Failed gRPC calls, by method and reason'),
    admissionRefused: new Counter(
      'media_node_admission_refused_total',
      'New rooms and joins refused as over capacity, by kind (room, join)',
    ),
    producersPoliced: new Counter(
      'media_node_producers_policed_total',
      'Producers the police acted on, by action: paused (an offence: over the packet-rate or bitrate limit; the member is told), resumed (back under after the cool-down), ended (repeated offences: the session was ended)',
    ),
  };
}

export async function startMetricsServer(
  host: string,
  port: number,
  render: () => Promise<string>,
): Promise<{ server: Server; address: string }> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    render().then(
      (text) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  const bound = await listen(server, port, host);
  return { server, address: `${host}:${bound.port}` };
}
