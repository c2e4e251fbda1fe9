import type { Metrics } from '@edgeguard/telemetry';

type Registry = Metrics['registry'];

/** What prom-client's registry reads from a metric to write `/metrics` (its Counter and Histogram give the same). */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Record<string, string>;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

interface StatusCell {
  labels: { route: string; method: string; status: string };
  value: number;
}

/** One route's cells: what a response of that route costs is a few additions, no hashing, no allocation. */
export class RouteCells {
  /** Responses per latency bucket (not cumulative; past the last bound: only `count`). */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;
  /** method → status → cell: a handful per route. */
  private readonly byMethod = new Map<string, Map<number, StatusCell>>();

  constructor(
    readonly labels: { route: string },
    private readonly owner: RequestMetrics,
  ) {
    this.buckets = new Float64Array(owner.bounds.length);
  }

  /** One response: its method, status and seconds to the response head. */
  record(method: string, status: number, seconds: number): void {
    let byStatus = this.byMethod.get(method);
    if (!byStatus) {
      byStatus = new Map();
      this.byMethod.set(method, byStatus);
    }
    let cell = byStatus.get(status);
    if (!cell) {
      cell = { labels: { route: this.labels.route, method, status: String(status) }, value: 0 };
      byStatus.set(status, cell);
      this.owner.counted.push(cell);
    }
    cell.value += 1;
    if (this.count === 0) this.owner.timed.push(this);
    const bounds = this.owner.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.buckets[i]! += 1;
        break;
      }
    }
    this.sum += seconds;
    this.count += 1;
  }

  clear(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
    this.byMethod.clear();
  }
}

/**
 * `edgeguard_api_requests_total{route,method,status}` and `edgeguard_api_request_duration_seconds`
 * `{route}` kept in plain numbers per route (cells made once, when the route is registered) and
 * handed to the prom-client registry as two metrics in the shapes prom-client's own Counter and
 * Histogram give it, so `/metrics` reads the same (a test compares the text). prom-client's
 * `inc`/`observe` build and hash a label string per call (~0.6 µs per request together).
 */
export class RequestMetrics {
  /** Cells in the order of their first response (prom-client lists label sets that way). */
  readonly counted: StatusCell[] = [];
  readonly timed: RouteCells[] = [];
  private readonly routes = new Map<string, RouteCells>();

  constructor(
    registry: Registry,
    names: { requests: string; requestsHelp: string; latency: string; latencyHelp: string },
    readonly bounds: readonly number[],
  ) {
    const reset = () => {
      for (const cells of this.routes.values()) cells.clear();
      this.counted.length = 0;
      this.timed.length = 0;
    };
    const counter = {
      name: names.requests,
      help: names.requestsHelp,
      type: 'counter' as const,
      aggregator: 'sum' as const,
      reset,
      get: async (): Promise<MetricData> => ({
        name: names.requests,
        help: names.requestsHelp,
        type: 'counter',
        values: this.counted.map((cell) => ({ value: cell.value, labels: cell.labels })),
        aggregator: 'sum',
      }),
    };
    const histogram = {
      name: names.latency,
      help: names.latencyHelp,
      type: 'histogram' as const,
      aggregator: 'sum' as const,
      reset,
      getForPromString: async (): Promise<MetricData> => ({
        name: names.latency,
        help: names.latencyHelp,
        type: 'histogram',
        values: this.timed.flatMap((cells) => this.histogramValues(names.latency, cells)),
        aggregator: 'sum',
      }),
      get: async (): Promise<MetricData> => {
        const data = await histogram.getForPromString();
        // As prom-client's JSON: the route label inside each value's labels.
        data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
          ...rest,
          labels: { ...labels, ...sharedLabels },
        }));
        return data;
      },
    };
    // The registry takes any object of this shape; its types name only prom-client's classes.
    registry.registerMetric(counter as unknown as Parameters<Registry['registerMetric']>[0]);
    registry.registerMetric(histogram as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The cells of a route (one object per route label). */
  route(route: string): RouteCells {
    let cells = this.routes.get(route);
    if (!cells) {
      cells = new RouteCells({ route }, this);
      this.routes.set(route, cells);
    }
    return cells;
  }

  private histogramValues(name: string, cells: RouteCells): MetricValue[] {
    const values: MetricValue[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += cells.buckets[i]!;
      values.push({
        labels: { le: this.bounds[i]! },
        value: cumulative,
        metricName: `${name}_bucket`,
        sharedLabels: cells.labels,
      });
    }
    values.push(
      {
        labels: { le: '+Inf' },
        value: cells.count,
        metricName: `${name}_bucket`,
        sharedLabels: cells.labels,
      },
      { labels: {}, value: cells.sum, metricName: `${name}_sum`, sharedLabels: cells.labels },
      { labels: {}, value: cells.count, metricName: `${name}_count`, sharedLabels: cells.labels },
    );
    return values;
  }
}
