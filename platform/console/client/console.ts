/**
 * The console's one script (bundled with uPlot into dist/console/console.js by scripts/build.ts).
 * It adds what server-rendered HTML cannot: the requests chart and table figures, polled every
 * few seconds, and a live follow of a function's logs. It reads the session's CSRF token from
 * the page when it needs one and stores nothing in the browser.
 */
import uPlot from 'uplot';

const POLL_MS = 5_000;

interface Point {
  t: number;
  requests: number;
}
interface FunctionData {
  name: string;
  latest: { seq: number } | null;
  instances: number;
  requests: number;
  errors: number;
  series: Point[];
}

const chartEl = document.getElementById('chart');
const names = chartEl?.dataset.functions?.split(',').filter(Boolean) ?? [];
let chart: uPlot | undefined;

function palette(i: number): string {
  return `hsl(${(i * 137) % 360} 65% 50%)`;
}

function draw(fns: FunctionData[]): void {
  if (!chartEl) return;
  // One x axis: the sample times of the first function (all share the sampler's clock).
  const xs = (fns[0]?.series ?? []).map((p) => p.t / 1000);
  const data: uPlot.AlignedData = [xs, ...fns.map((f) => xs.map((_, i) => f.series[i]?.requests ?? 0))];
  const total = fns.reduce((n, f) => n + f.series.reduce((m, p) => m + p.requests, 0), 0);
  // The figure the chart shows, for readers (and tests) that cannot look at a canvas.
  chartEl.dataset.total = String(total);
  chartEl.setAttribute('aria-label', `Requests over the last minutes: ${total} in all`);
  const width = Math.max(260, chartEl.clientWidth);
  if (!chart) {
    chart = new uPlot(
      {
        width,
        height: 200,
        series: [{}, ...fns.map((f, i) => ({ label: f.name, stroke: palette(i), width: 2 }))],
        axes: [
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
        ],
        scales: {
          // Always the last five minutes, so a chart of a few points does not stretch over years.
          x: { time: true, range: (_u, _min, max) => [max - 300, max] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
      },
      data,
      chartEl,
    );
    new ResizeObserver(() => chart?.setSize({ width: Math.max(260, chartEl.clientWidth), height: 200 })).observe(chartEl);
  } else chart.setData(data);
}

function fill(fns: FunctionData[]): void {
  for (const f of fns) {
    const scope = document.querySelector(`[data-function="${CSS.escape(f.name)}"]`) ?? (document.body.dataset.page === 'function' ? document : null);
    if (!scope) continue;
    for (const field of ['instances', 'requests', 'errors'] as const) {
      const el = scope.querySelector(`[data-field="${field}"]`);
      if (el) el.textContent = String(f[field]);
    }
  }
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
    const body = (await res.json()) as { functions: FunctionData[] };
    draw(body.functions);
    fill(body.functions);
  } catch {
    // The daemon is away for a moment; the next poll tries again.
  }
}

function follow(): void {
  const list = document.getElementById('logs');
  const button = document.getElementById('follow');
  const state = document.getElementById('follow-state');
  if (!list || !button || !state) return;
  const fn = list.dataset.function!;
  const invocation = (document.getElementById('invocation') as HTMLInputElement | null)?.value.trim() ?? '';
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
    // Only lines newer than the ones on the page: the server sends its backlog first.
    const last = list.lastElementChild?.getAttribute('data-id');
    if (last) qs.set('after', last);
    source = new EventSource(`/console/api/functions/${encodeURIComponent(fn)}/logs?${qs}`);
    button.setAttribute('aria-pressed', 'true');
    button.textContent = 'Stop following';
    state.textContent = invocation ? `Following invocation ${invocation}` : 'Following new lines';
    source.onmessage = (e) => {
      const l = JSON.parse(e.data as string) as { id: number; time: number; level: string; invocation: string | null; message: string };
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
      list.append(li);
      document.getElementById('no-logs')?.remove();
      li.scrollIntoView({ block: 'nearest' });
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

function text(cls: string, value: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = value;
  return s;
}

void poll();
setInterval(() => void poll(), POLL_MS);
follow();
