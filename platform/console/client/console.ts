/**
 * The console's one script (bundled with uPlot into dist/console/console.js by scripts/build.ts).
 * It adds what server-rendered HTML cannot: the figures and charts, polled every few seconds, and
 * a live follow of a function's logs. Every figure arrives rendered by the server (`shown`), so
 * the page reads the same before and after a poll. It reads nothing secret and stores nothing in
 * the browser.
 */
import uPlot from 'uplot';

const POLL_MS = 5_000;
const CHART_HEIGHT = 180;

interface Point {
  t: number;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
}
interface FunctionData {
  name: string;
  shown: Record<string, string>;
  series: Point[];
}
type Kind = 'requests' | 'errors' | 'p99' | 'traffic' | 'latency';
interface Line {
  label: string;
  values: Array<number | null>;
  color: string;
}

const names = document.body.dataset.functions?.split(',').filter(Boolean) ?? [];
const charts = new Map<HTMLElement, uPlot>();

function lastFiveMinutes(xs: ArrayLike<number> | undefined): uPlot.Range.MinMax {
  const last = xs && xs.length ? xs[xs.length - 1] : Date.now() / 1000;
  return [last - 300, last + 8];
}

/** `14:05`, in the browser's time zone. */
function clock(seconds: number): string {
  const t = new Date(seconds * 1000);
  return `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
}

function palette(i: number): string {
  return `hsl(${(i * 137 + 25) % 360} 65% 50%)`;
}
const ERROR_COLOR = 'hsl(0 70% 52%)';

/** What a chart of `kind` draws from the polled functions. */
function linesFor(kind: Kind, fns: FunctionData[]): Line[] {
  const one = fns[0];
  switch (kind) {
    case 'requests':
    case 'errors':
    case 'p99':
      return fns.map((f, i) => ({ label: f.name, values: f.series.map((p) => p[kind]), color: palette(i) }));
    case 'traffic':
      return one
        ? [
            { label: 'requests', values: one.series.map((p) => p.requests), color: palette(0) },
            { label: 'errors', values: one.series.map((p) => p.errors), color: ERROR_COLOR },
          ]
        : [];
    case 'latency':
      return one
        ? [
            { label: 'p50 ms', values: one.series.map((p) => p.p50), color: palette(1) },
            { label: 'p99 ms', values: one.series.map((p) => p.p99), color: palette(2) },
          ]
        : [];
  }
}

function draw(el: HTMLElement, fns: FunctionData[]): void {
  const kind = el.dataset.chart as Kind;
  const wanted = el.dataset.functions?.split(',').filter(Boolean) ?? [];
  const mine = fns.filter((f) => wanted.includes(f.name));
  // One x axis: the sample times of the first function (all share the sampler's clock).
  const xs = (mine[0]?.series ?? []).map((p) => p.t / 1000);
  const lines = linesFor(kind, mine);
  const data: uPlot.AlignedData = [xs, ...lines.map((l) => xs.map((_, i) => l.values[i] ?? null))];
  // The figures the chart shows, for readers (and tests) that cannot look at a canvas: counts are
  // summed (for traffic, the requests line), and `points` is the intervals with something drawn
  // (a count above zero, or a latency).
  const latency = kind === 'p99' || kind === 'latency';
  const counted = kind === 'traffic' ? lines.slice(0, 1) : lines;
  const total = counted.reduce((n, l) => n + l.values.reduce<number>((m, v) => m + (v ?? 0), 0), 0);
  const drawn = (v: number | null | undefined) => v !== null && v !== undefined && (latency || v > 0);
  const points = xs.filter((_, i) => lines.some((l) => drawn(l.values[i]))).length;
  el.dataset.total = String(Math.round(total));
  el.dataset.points = String(points);
  el.setAttribute('aria-label', `${el.dataset.label}: ${latency ? `${points} intervals with requests` : `${Math.round(total)} in all`}`);
  const width = Math.max(240, el.clientWidth - 16);
  let chart = charts.get(el);
  if (!chart) {
    chart = new uPlot(
      {
        width,
        height: CHART_HEIGHT,
        // Points as well as lines: an interval on its own (the first one, or one between quiet
        // ones) has no neighbour to draw a line to.
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: false, points: { show: true, size: 7, fill: l.color } }))],
        axes: [
          // Hours and minutes: the chart spans five minutes, so a date adds nothing.
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' }, values: (_u, splits) => splits.map(clock) },
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' }, size: 56 },
        ],
        scales: {
          // Always the five minutes up to the newest point, with a little room on its right. Taken
          // from the data, not from the range uPlot proposes: for a single time it proposes a day.
          x: { time: true, range: (u) => lastFiveMinutes(u.data[0]) },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
      },
      data,
      el,
    );
    charts.set(el, chart);
    const c = chart;
    new ResizeObserver(() => c.setSize({ width: Math.max(240, el.clientWidth - 16), height: CHART_HEIGHT })).observe(el);
  } else chart.setData(data);
}

function fill(fns: FunctionData[], windowText: string | undefined): void {
  for (const f of fns) {
    const scopes = document.querySelectorAll(`tr[data-function="${CSS.escape(f.name)}"], .facts[data-function="${CSS.escape(f.name)}"]`);
    for (const scope of scopes) {
      for (const [field, text] of Object.entries(f.shown)) {
        for (const el of scope.querySelectorAll(`[data-field="${field}"]`)) el.textContent = text;
      }
    }
  }
  if (windowText) for (const el of document.querySelectorAll('[data-window]')) el.textContent = windowText;
}

async function poll(): Promise<void> {
  if (names.length === 0) return;
  try {
    const res = await fetch(`/console/api/functions?names=${encodeURIComponent(names.join(','))}`, { headers: { accept: 'application/json' } });
    if (res.status === 401) {
      // The session ended (signed out elsewhere, expired, daemon restarted): show the refusal.
      location.reload();
      return;
    }
    if (!res.ok) return;
    const body = (await res.json()) as { window?: string; functions: FunctionData[] };
    for (const el of document.querySelectorAll<HTMLElement>('.chart[data-chart]')) draw(el, body.functions);
    fill(body.functions, body.window);
  } catch {
    // The daemon is away for a moment; the next poll tries again.
  }
}

interface LogLine {
  id: number;
  time: number;
  level: string;
  invocation: string | null;
  message: string;
}

function follow(): void {
  const list = document.getElementById('logs');
  const button = document.getElementById('follow');
  const state = document.getElementById('follow-state');
  if (!list || !button || !state) return;
  const fn = list.dataset.function!;
  const invocation = (document.getElementById('invocation') as HTMLInputElement | null)?.value.trim() ?? '';
  const level = (document.getElementById('level') as HTMLSelectElement | null)?.value ?? '';
  let source: EventSource | undefined;
  button.hidden = false;
  const stop = () => {
    source?.close();
    source = undefined;
    button.setAttribute('aria-pressed', 'false');
    button.textContent = 'Follow';
    state.textContent = '';
  };
  const start = () => {
    const qs = new URLSearchParams();
    if (invocation) qs.set('invocation', invocation);
    if (level) qs.set('level', level);
    // Only lines newer than the ones on the page: the server sends its backlog first.
    const last = list.lastElementChild?.getAttribute('data-id');
    if (last) qs.set('after', last);
    source = new EventSource(`/console/api/functions/${encodeURIComponent(fn)}/logs?${qs}`);
    button.setAttribute('aria-pressed', 'true');
    button.textContent = 'Stop following';
    const what = [invocation ? `invocation ${invocation}` : '', level ? `level ${level} and above` : ''].filter(Boolean).join(', ');
    state.textContent = what ? `Following new lines (${what})` : 'Following new lines';
    source.onmessage = (e) => {
      const l = JSON.parse(e.data as string) as LogLine;
      list.append(logItem(l));
      document.getElementById('no-logs')?.remove();
      list.lastElementChild?.scrollIntoView({ block: 'nearest' });
    };
    source.onerror = () => {
      if (source?.readyState === EventSource.CLOSED) {
        stop();
        state.textContent = 'The log stream ended (the function was removed, or the session ended).';
      }
    };
  };
  button.addEventListener('click', () => (source ? stop() : start()));
}

/** A log line as the server renders it (pages/function.tsx, LogLine). */
function logItem(l: LogLine): HTMLLIElement {
  const li = document.createElement('li');
  li.className = `log ${l.level}`;
  li.dataset.id = String(l.id);
  const time = document.createElement('time');
  time.dateTime = new Date(l.time).toISOString();
  time.textContent = time.dateTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const parts = [time, text('inv', l.invocation ?? '-'), text('lvl', l.level), text('msg', l.message)];
  parts.forEach((p, i) => {
    if (i) li.append(' ');
    li.append(p);
  });
  return li;
}

function text(cls: string, value: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = value;
  return s;
}

void poll();
setInterval(() => void poll(), POLL_MS);
follow();
