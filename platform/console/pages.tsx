/**
 * The console's pages, rendered on the server with hono/jsx: every page is complete HTML that
 * reads and works with the keyboard before any script runs; console.js adds only the polled
 * chart and the live log follow. Text is escaped by hono/jsx.
 *
 * Nothing secret is rendered: the page holds the session's CSRF token (useless without the
 * HttpOnly cookie, and the cookie useless without it for changes), never an API token.
 */
import type { Child } from 'hono/jsx';

export interface FunctionRow {
  name: string;
  latest: { id: string; seq: number; digest: string } | null;
  aliases: Array<{ name: string; routes: Array<{ version: string; weight: number; seq?: number }> }>;
  instances: number;
  url: string;
  requests: number;
  errors: number;
}

export interface VersionRow {
  id: string;
  seq: number;
  digest: string;
  createdAt: number;
  envKeys: string[];
}

export interface LogRow {
  id: number;
  time: number;
  level: string;
  invocation: string | null;
  message: string;
}

const iso = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const fnPath = (name: string) => `/console/functions/${encodeURIComponent(name)}`;

function Layout(props: { title: string; csrf?: string; page: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        {props.csrf ? <meta name="ignition-csrf" content={props.csrf} /> : null}
        <title>{`${props.title} · Ignition`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        {props.csrf ? <script type="module" src="/console/assets/console.js"></script> : null}
      </head>
      <body data-page={props.page}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/console/">
            Ignition
          </a>
          {props.csrf ? (
            <nav aria-label="Console">
              <a href="/console/" aria-current={props.page === 'functions' ? 'page' : undefined}>
                Functions
              </a>
            </nav>
          ) : null}
          {props.csrf ? (
            <form method="post" action="/console/logout" class="logout">
              <input type="hidden" name="csrf" value={props.csrf} />
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main id="main">{props.children}</main>
      </body>
    </html>
  );
}

export function FunctionsPage(props: { csrf: string; functions: FunctionRow[] }) {
  return (
    <Layout title="Functions" csrf={props.csrf} page="functions">
      <h1>Functions</h1>
      {props.functions.length === 0 ? (
        <p>
          No functions yet. Deploy one with <code>ignition deploy &lt;dir&gt;</code>.
        </p>
      ) : (
        <>
          <section aria-labelledby="chart-title">
            <h2 id="chart-title">Requests per 10 s, last 5 minutes</h2>
            <div
              class="chart"
              id="chart"
              data-functions={props.functions.map((f) => f.name).join(',')}
              data-total="0"
              role="img"
              aria-label="Requests over time, by function"
            ></div>
          </section>
          <div class="scroll">
            <table>
              <caption class="sr-only">Deployed functions</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Latest</th>
                  <th scope="col">Aliases</th>
                  <th scope="col" class="num">
                    Instances
                  </th>
                  <th scope="col">URL</th>
                  <th scope="col" class="num">
                    Requests
                  </th>
                  <th scope="col" class="num">
                    Errors
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.functions.map((f) => (
                  <tr data-function={f.name}>
                    <th scope="row">
                      <a href={fnPath(f.name)}>{f.name}</a>
                    </th>
                    <td>{f.latest ? <span title={f.latest.digest}>v{f.latest.seq}</span> : '–'}</td>
                    <td>{f.aliases.map((a) => a.name).join(', ')}</td>
                    <td class="num" data-field="instances">
                      {f.instances}
                    </td>
                    <td>
                      <code>{f.url}</code>
                    </td>
                    <td class="num" data-field="requests">
                      {f.requests}
                    </td>
                    <td class="num" data-field="errors">
                      {f.errors}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Layout>
  );
}

export function FunctionPage(props: {
  csrf: string;
  fn: FunctionRow;
  versions: VersionRow[];
  envKeys: string[];
  logs: LogRow[];
  invocation: string | undefined;
}) {
  const { fn } = props;
  const current = fn.latest?.id;
  return (
    <Layout title={fn.name} csrf={props.csrf} page="function">
      <p class="crumbs">
        <a href="/console/">Functions</a> / {fn.name}
      </p>
      <h1>{fn.name}</h1>
      <dl class="facts">
        <dt>Latest</dt>
        <dd data-field="latest">{fn.latest ? `v${fn.latest.seq}` : '–'}</dd>
        <dt>URL</dt>
        <dd>
          <code>{fn.url}</code>
        </dd>
        <dt>Instances</dt>
        <dd data-field="instances">{fn.instances}</dd>
        <dt>Requests</dt>
        <dd data-field="requests">{fn.requests}</dd>
        <dt>Errors</dt>
        <dd data-field="errors">{fn.errors}</dd>
        <dt>Environment</dt>
        <dd>{props.envKeys.length ? props.envKeys.join(', ') : 'none'}</dd>
      </dl>
      <section aria-labelledby="chart-title">
        <h2 id="chart-title">Requests per 10 s, last 5 minutes</h2>
        <div class="chart" id="chart" data-functions={fn.name} data-total="0" role="img" aria-label={`Requests to ${fn.name} over time`}></div>
      </section>
      <section aria-labelledby="versions-title">
        <h2 id="versions-title">Versions</h2>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Deployed</th>
                <th scope="col">Digest</th>
                <th scope="col">Aliases</th>
                <th scope="col">
                  <span class="sr-only">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.versions.map((v) => (
                <tr data-version={v.seq}>
                  <th scope="row">v{v.seq}</th>
                  <td>
                    <time datetime={new Date(v.createdAt).toISOString()}>{iso(v.createdAt)}</time>
                  </td>
                  <td>
                    <code title={v.digest}>{short(v.digest)}</code>
                  </td>
                  <td>
                    {fn.aliases
                      .filter((a) => a.routes.some((r) => r.version === v.id))
                      .map((a) => a.name)
                      .join(', ')}
                  </td>
                  <td>
                    {v.id === current ? (
                      <span class="badge">serving</span>
                    ) : (
                      <a class="button" href={`${fnPath(fn.name)}/rollback?to=v${v.seq}`}>
                        Roll back to v{v.seq}
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="logs-title">
        <h2 id="logs-title">Logs</h2>
        <form method="get" action={fnPath(fn.name)} class="filter">
          <label for="invocation">Invocation</label>
          <input id="invocation" name="invocation" value={props.invocation ?? ''} placeholder="req_…" autocomplete="off" spellcheck={false} />
          <button type="submit">Filter</button>
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
            No log lines{props.invocation ? ' for this invocation' : ''}.
          </p>
        ) : null}
      </section>
    </Layout>
  );
}

export function LogLine(l: LogRow) {
  return (
    <li class={`log ${l.level}`} data-id={String(l.id)}>
      <time datetime={new Date(l.time).toISOString()}>{iso(l.time)}</time> <span class="inv">{l.invocation ?? '-'}</span> <span class="lvl">{l.level}</span>{' '}
      <span class="msg">{l.message}</span>
    </li>
  );
}

export function RollbackPage(props: { csrf: string; name: string; from: number | null; to: number }) {
  return (
    <Layout title={`Roll back ${props.name}`} csrf={props.csrf} page="rollback">
      <p class="crumbs">
        <a href="/console/">Functions</a> / <a href={fnPath(props.name)}>{props.name}</a> / roll back
      </p>
      <h1>
        Roll back {props.name} to v{props.to}?
      </h1>
      <p>
        The alias <code>latest</code> moves from {props.from === null ? 'its current version' : `v${props.from}`} to v{props.to}. New requests go to v{props.to}{' '}
        at once; instances of the version it leaves are drained.
      </p>
      <form method="post" action={`${fnPath(props.name)}/rollback`} class="confirm">
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="to" value={`v${props.to}`} />
        <button type="submit" class="danger" autofocus>
          Roll back to v{props.to}
        </button>{' '}
        <a href={fnPath(props.name)}>Cancel</a>
      </form>
    </Layout>
  );
}

/** Errors, the refusal without a session, and the page after signing out. */
export function MessagePage(props: { title: string; detail: string; code?: string; signedIn?: boolean; csrf?: string }) {
  return (
    <Layout title={props.title} page="message" csrf={props.signedIn ? props.csrf : undefined}>
      <h1>{props.title}</h1>
      <p>{props.detail}</p>
      {props.code ? (
        <p class="muted">
          Code: <code>{props.code}</code>
        </p>
      ) : null}
      {props.signedIn ? null : (
        <p>
          To sign in, run <code>ignition console</code> on a host with the admin token (<code>--url</code> prints the one-time link).
        </p>
      )}
    </Layout>
  );
}
