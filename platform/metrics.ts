/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4) at `/metrics`. Collectors registered with `onCollect` refresh
 * gauges (instances by state, queue depth) just before a scrape, so nothing polls in between.
 */
type Labels = Record<string, string>;

const render = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

/**
 * Series keys by the labels as given (names in the caller's order, values): every invocation
 * counts in three series, and rendering a key (sort, escape, join) allocates a few hundred bytes
 * each time. The cache is bounded; past the bound keys are rendered as before.
 */
const rendered = new Map<string, string>();
const RENDERED_MAX = 10_000;

const key = (labels: Labels) => {
  let raw = '';
  for (const k in labels) {
    const v = labels[k];
    // A value holding the separator could make two label sets look alike: render it, uncached.
    if (typeof v !== 'string' || v.includes('\u0001')) return render(labels);
    raw += `${k}\u0001${v}\u0001`;
  }
  let k = rendered.get(raw);
  if (k === undefined) {
    k = render(labels);
    if (rendered.size < RENDERED_MAX) rendered.set(raw, k);
  }
  return k;
};

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1) {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}) {
    return this.values.get(key(labels)) ?? 0;
  }
  /**
   * Each series as its rendered labels (`a="x",b="y"`) and value: for in-process readers (the web
   * console) that would otherwise parse `render()`. Reading costs the counting path nothing.
   */
  each(visit: (labels: string, value: number) => void) {
    for (const [k, v] of this.values) visit(k, v);
  }
  render() {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels, value: number) {
    this.values.set(key(labels), value);
  }
  reset() {
    this.values = new Map();
  }
  render() {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(labels: Labels, value: number) {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  /**
   * Each series as its rendered labels, cumulative bucket counts (one per `buckets` entry, the
   * last bucket's count below +Inf), observation count and sum. The counts array is the live one:
   * a reader copies what it keeps.
   */
  each(visit: (labels: string, counts: readonly number[], count: number, sum: number) => void) {
    for (const [k, s] of this.series) visit(k, s.counts, s.count, s.sum);
  }
  render() {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`));
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

/** Latency buckets in seconds, from 0.5 ms to 30 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: Array<() => void> = [];

  counter(name: string, help: string) {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string) {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets = LATENCY_BUCKETS) {
    return this.add(new Histogram(name, help, buckets));
  }
  onCollect(fn: () => void) {
    this.collectors.push(fn);
  }
  private add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }

  render(): string {
    for (const c of this.collectors) c();
    const lines: string[] = [];
    for (const m of this.metrics) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return lines.join('\n') + '\n';
  }
}

/** The platform's metrics, created once by the composition root. */
export function platformMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    invocations: registry.counter(
      'ignition_invocations_total',
      'Invocations by function, version, outcome and whether they waited for an instance start (cold)',
    ),
    invocationErrors: registry.counter('ignition_invocation_errors_total', 'Invocations that failed on the platform side, by function and error code'),
    invocationDuration: registry.histogram('ignition_invocation_duration_seconds', 'Time to the response headers, by function and version'),
    restoreDuration: registry.histogram('ignition_restore_duration_seconds', 'Instance start (restore from the golden snapshot) to a healthy agent, by driver'),
    restoreStep: registry.histogram(
      'ignition_restore_step_seconds',
      'Duration of each named step of machine boots, restores and snapshots, by driver, flow and step',
    ),
    instances: registry.gauge('ignition_instances', 'Instances by function and state (idle, busy, starting)'),
    queueDepth: registry.gauge('ignition_queue_depth', 'Requests waiting for an instance, by function'),
    vmmSpares: registry.gauge(
      'ignition_vmm_spares',
      'Machines started ahead and ready to be adopted, by kind: Firecracker processes (plain, network), process-driver sandboxes (process)',
    ),
    deploys: registry.counter('ignition_deploys_total', 'Deploys by function and outcome'),
  };
}

export type PlatformMetrics = ReturnType<typeof platformMetrics>;
