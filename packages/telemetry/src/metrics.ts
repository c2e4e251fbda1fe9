import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The one metrics registry of a process (Prometheus text format on `/metrics`). Metric names are
 * `edgeguard_<what>_<unit>`; labels are low-cardinality only (topic, partition, stage, reason):
 * never a client address or a path, which would grow with traffic.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    // prom-client's own names already start with `process_` / `nodejs_`: prefixed `edgeguard_`,
    // they read edgeguard_process_cpu_seconds_total, edgeguard_nodejs_heap_size_used_bytes.
    collectDefaultMetrics({ register: this.registry, prefix: 'edgeguard_' });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<string>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<string>;
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram<string> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<string>;
    return new Histogram({
      name,
      help,
      labelNames,
      registers: [this.registry],
      ...(buckets ? { buckets } : {}),
    });
  }

  /**
   * Puts the series of the registered counter `name` on /metrics at 0 for every combination of
   * the given label values: prom-client exports a labelled series only from its first increment,
   * and `rate(x{reason="…"}[5m])` or an alert on it saw nothing until then. For label values
   * known in advance only; open-ended ones (a partition, a field name) appear as they come.
   */
  countFromZero(name: string, values: Record<string, readonly string[]>): void {
    const counter = this.registry.getSingleMetric(name);
    if (!(counter instanceof Counter)) throw new Error(`${name} is not a registered counter`);
    let sets: Record<string, string>[] = [{}];
    for (const [label, options] of Object.entries(values))
      sets = sets.flatMap((set) => options.map((value) => ({ ...set, [label]: value })));
    for (const labels of sets) counter.inc(labels, 0);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
