/**
 * A function's page (`/console/functions/<name>`): its traffic, aliases and weights, versions
 * with their settings, environment and secret names (never values), cron triggers, async
 * invocations, and its log, filtered by invocation and level and followed live.
 */
import type { FunctionSettings } from '../../config/schema.ts';
import type { CronView, InvocationView } from '../../async/views.ts';
import type { FunctionRow } from '../figures.ts';
import { Chart } from './charts.tsx';
import { duration, fnPath, iso, isoAttr, logsOf, routesText, short, span } from './format.ts';
import { Instances } from './functions.tsx';
import { Crumbs, Layout, Table, Unavailable } from './layout.tsx';

export interface VersionRow {
  id: string;
  seq: number;
  digest: string;
  createdAt: number;
  settings: FunctionSettings;
  envKeys: string[];
}

export interface LogRow {
  id: number;
  time: number;
  level: string;
  invocation: string | null;
  message: string;
}

export const LEVEL_CHOICES: Array<[string, string]> = [
  ['', 'All levels'],
  ['info', 'Info and above'],
  ['warn', 'Warnings and errors'],
  ['error', 'Errors only'],
];

export function FunctionPage(props: {
  csrf: string;
  fn: FunctionRow;
  versions: VersionRow[];
  envKeys: string[];
  /** Names only; null where the daemon has no secret store. */
  secrets: string[] | null;
  crons: CronView[] | null;
  jobs: InvocationView[] | null;
  logs: LogRow[];
  invocation: string | undefined;
  level: string | undefined;
}) {
  const { fn } = props;
  const current = fn.latest?.id;
  const filtered = props.invocation || props.level;
  return (
    <Layout title={fn.name} csrf={props.csrf} page="function" section="functions" poll={[fn.name]}>
      <Crumbs trail={[['Functions', '/console/']]} here={fn.name} />
      <h1>{fn.name}</h1>
      <dl class="facts" data-function={fn.name}>
        <dt>Latest</dt>
        <dd data-field="latest">{fn.latest ? `v${fn.latest.seq}` : '–'}</dd>
        <dt>URL</dt>
        <dd>
          <code>{fn.url}</code>
        </dd>
        <dt>Instances</dt>
        <dd>
          <Instances shown={fn.shown} />
        </dd>
        <dt>
          Last <span data-window>{span(fn.window.seconds)}</span>
        </dt>
        <dd>
          <span data-field="rps">{fn.shown.rps}</span> req/s, errors <span data-field="errorRate">{fn.shown.errorRate}</span>, p50{' '}
          <span data-field="p50">{fn.shown.p50}</span>, p99 <span data-field="p99">{fn.shown.p99}</span>, <span data-field="cold">{fn.shown.cold}</span> cold
          starts
        </dd>
        <dt>Since the daemon started</dt>
        <dd>
          <span data-field="requests">{fn.shown.requests}</span> requests, <span data-field="errors">{fn.shown.errors}</span> errors (
          <a href={`/console/invocations?function=${encodeURIComponent(fn.name)}&status=failed`}>failed invocations</a>)
        </dd>
        <dt>Environment</dt>
        <dd data-field="env">{props.envKeys.length ? props.envKeys.join(', ') : 'none'}</dd>
        <dt>Secrets</dt>
        <dd data-field="secrets">
          {props.secrets === null ? 'not available' : props.secrets.length ? props.secrets.join(', ') : 'none'}{' '}
          <span class="muted">(names only; values never leave the daemon)</span>
        </dd>
      </dl>

      <h2>Last five minutes</h2>
      <div class="charts">
        <Chart
          id="chart"
          kind="traffic"
          functions={[fn.name]}
          title="Requests and errors per 10 s"
          label={`Requests and errors of ${fn.name} per 10 seconds`}
        />
        <Chart id="chart-latency" kind="latency" functions={[fn.name]} title="Latency p50 and p99, ms" label={`Latency of ${fn.name}, p50 and p99`} />
      </div>

      <section aria-labelledby="aliases-title">
        <h2 id="aliases-title">Aliases</h2>
        <Table columns={['Alias', 'Routes to', 'URL', { label: 'Action', hidden: true }]}>
          {fn.aliases.map((a) => (
            <tr data-alias={a.name}>
              <th scope="row">{a.name}</th>
              <td data-field="routes">{routesText(a.routes)}</td>
              <td>
                <code>{a.name === 'latest' ? fn.url : fn.url.replace(`/fn/${fn.name}/`, `/fn/${fn.name}@${a.name}/`)}</code>
              </td>
              <td>
                <a class="button" href={`${fnPath(fn.name)}/aliases/${encodeURIComponent(a.name)}`}>
                  Edit weights of {a.name}
                </a>
              </td>
            </tr>
          ))}
        </Table>
        <form method="get" action={`${fnPath(fn.name)}/aliases`} class="filter">
          <label for="new-alias">New alias</label>
          <input id="new-alias" name="alias" placeholder="canary" autocomplete="off" spellcheck={false} required />
          <button type="submit">Set up</button>
        </form>
      </section>

      <section aria-labelledby="versions-title">
        <h2 id="versions-title">Versions</h2>
        <Table columns={['Version', 'Deployed', 'Digest', 'Settings', 'Environment', 'Aliases', { label: 'Action', hidden: true }]}>
          {props.versions.map((v) => (
            <tr data-version={v.seq}>
              <th scope="row">v{v.seq}</th>
              <td>
                <time datetime={isoAttr(v.createdAt)}>{iso(v.createdAt)}</time>
              </td>
              <td>
                <code title={v.digest}>{short(v.digest)}</code>
              </td>
              <td>
                <Settings settings={v.settings} />
              </td>
              <td>{v.envKeys.length ? v.envKeys.join(', ') : '–'}</td>
              <td>
                {fn.aliases
                  .filter((a) => a.routes.some((r) => r.version === v.id))
                  .map((a) => a.name)
                  .join(', ')}
              </td>
              <td>
                {v.id === current ? (
                  <span class="badge">serving latest</span>
                ) : (
                  <a class="button" href={`${fnPath(fn.name)}/rollback?to=v${v.seq}`}>
                    Roll back to v{v.seq}
                  </a>
                )}
              </td>
            </tr>
          ))}
        </Table>
      </section>

      <section aria-labelledby="crons-title">
        <h2 id="crons-title">Cron triggers</h2>
        {props.crons === null ? (
          <Unavailable what="Cron" />
        ) : props.crons.length === 0 ? (
          <p class="muted">
            None. Add one with <code>ignition cron add {fn.name} "*/5 * * * *"</code>.
          </p>
        ) : (
          <Table columns={['Schedule', 'Request', 'State', 'Last fired', 'Next', 'Id']}>
            {props.crons.map((c) => (
              <tr data-cron={c.id}>
                <th scope="row">
                  <code>{c.schedule}</code>
                </th>
                <td>
                  {c.method} <code>{c.path}</code>
                </td>
                <td>{c.enabled ? 'active' : 'paused'}</td>
                <td>{c.lastFiredAt ? <time datetime={c.lastFiredAt}>{iso(c.lastFiredAt)}</time> : 'never'}</td>
                <td>{c.nextAt ? <time datetime={c.nextAt}>{iso(c.nextAt)}</time> : '–'}</td>
                <td>
                  <code>{c.id}</code>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </section>

      <section aria-labelledby="async-title">
        <h2 id="async-title">Async invocations</h2>
        {props.jobs === null ? <Unavailable what="Async invocation" /> : <Jobs jobs={props.jobs} />}
      </section>

      <section aria-labelledby="logs-title">
        <h2 id="logs-title">Logs</h2>
        <form method="get" action={fnPath(fn.name)} class="filter" id="log-filter">
          <label for="invocation">Invocation</label>
          <input id="invocation" name="invocation" value={props.invocation ?? ''} placeholder="req_…" autocomplete="off" spellcheck={false} />
          <label for="level">Level</label>
          <select id="level" name="level">
            {LEVEL_CHOICES.map(([value, label]) => (
              <option value={value} selected={(props.level ?? '') === value}>
                {label}
              </option>
            ))}
          </select>
          <button type="submit">Filter</button>
          {filtered ? <a href={`${fnPath(fn.name)}#logs-title`}>Clear</a> : null}
          <button type="button" id="follow" aria-pressed="false" hidden>
            Follow
          </button>
        </form>
        <p id="follow-state" role="status" class="muted"></p>
        <ol id="logs" class="logs" data-function={fn.name} aria-live="off">
          {props.logs.map((l) => (
            <LogLine {...l} />
          ))}
        </ol>
        {props.logs.length === 0 ? (
          <p class="muted" id="no-logs">
            No log lines{filtered ? ' match this filter' : ''}.
          </p>
        ) : null}
      </section>
    </Layout>
  );
}

export function LogLine(l: LogRow) {
  return (
    <li class={`log ${l.level}`} data-id={String(l.id)}>
      <time datetime={isoAttr(l.time)}>{iso(l.time)}</time> <span class="inv">{l.invocation ?? '-'}</span> <span class="lvl">{l.level}</span>{' '}
      <span class="msg">{l.message}</span>
    </li>
  );
}

/** The settings people look for first, and all of them behind a disclosure. */
function Settings(props: { settings: FunctionSettings }) {
  const s = props.settings;
  const all = Object.entries(s).sort(([a], [b]) => a.localeCompare(b));
  return (
    <details class="settings">
      <summary>
        {s.memoryMiB} MiB · {duration(s.timeoutMs)} timeout · {s.concurrency} at once · {s.minWarm}–{s.maxInstances} instances
      </summary>
      <dl>
        {all.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>
              <code>{JSON.stringify(v)}</code>
            </dd>
          </>
        ))}
      </dl>
    </details>
  );
}

/** Async, cron and recorded synchronous invocations of the async capability, newest first. */
export function Jobs(props: { jobs: InvocationView[]; showFunction?: boolean }) {
  if (props.jobs.length === 0) {
    return <p class="muted">None recently.</p>;
  }
  return (
    <Table
      columns={['Invocation', ...(props.showFunction ? ['Function'] : []), 'Kind', 'Status', { label: 'Attempts', num: true }, 'Request', 'Created', 'Result']}
    >
      {props.jobs.map((j) => (
        <tr data-job={j.id} data-status={j.status}>
          <th scope="row">
            <a href={logsOf(j.function, j.id)} title="Its log lines">
              <code>{j.id}</code>
            </a>
          </th>
          {props.showFunction ? (
            <td>
              <a href={fnPath(j.function)}>{j.function}</a>
            </td>
          ) : null}
          <td>{j.kind}</td>
          <td>
            <span class={`status ${j.status}`}>{j.status}</span>
          </td>
          <td class="num">
            {j.attempts}/{j.maxAttempts}
          </td>
          <td>
            {j.request.method} <code>{j.request.path}</code>
          </td>
          <td>
            <time datetime={j.createdAt}>{iso(j.createdAt)}</time>
          </td>
          <td>{j.lastError ? <code title={j.lastError.message}>{j.lastError.code}</code> : j.result ? `HTTP ${j.result.status}` : '–'}</td>
        </tr>
      ))}
    </Table>
  );
}
