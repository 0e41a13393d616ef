/**
 * The invocations page (`/console/invocations`): the daemon's latest invocations through `/fn`
 * with status, duration and phase of failure, each linking to its log lines (the function page's
 * log filtered by the invocation id); then the async capability's recent jobs.
 */
import type { InvocationView } from '../../async/views.ts';
import type { RecentInvocation } from '../../functions/recent.ts';
import { isFailure } from '../../functions/recent.ts';
import { Jobs } from './function.tsx';
import { duration, fnPath, iso, isoAttr, logsOf } from './format.ts';
import { Layout, Table, Unavailable } from './layout.tsx';

export interface InvocationRow extends RecentInvocation {
  /** The version's number, when the version is still known. */
  seq: number | null;
}

export function InvocationsPage(props: {
  csrf: string;
  rows: InvocationRow[];
  capacity: number;
  functions: string[];
  fn: string | undefined;
  failed: boolean;
  jobs: InvocationView[] | null;
}) {
  const link = (fn: string | undefined, failed: boolean) => {
    const qs = new URLSearchParams();
    if (fn) qs.set('function', fn);
    if (failed) qs.set('status', 'failed');
    const q = qs.toString();
    return `/console/invocations${q ? `?${q}` : ''}`;
  };
  return (
    <Layout title="Invocations" csrf={props.csrf} page="invocations" section="invocations">
      <h1>Invocations</h1>
      <p class="muted">
        The latest {props.capacity} invocations through <code>/fn</code> since the daemon started, newest first. Duration is the time to the answer's head.
        Select an invocation to read its log lines.
      </p>
      <div class="filter">
        <nav aria-label="Status" class="tabs">
          <a href={link(props.fn, false)} aria-current={props.failed ? undefined : 'page'}>
            All
          </a>
          <a href={link(props.fn, true)} aria-current={props.failed ? 'page' : undefined}>
            Failures
          </a>
        </nav>
        <form method="get" action="/console/invocations" class="filter">
          {props.failed ? <input type="hidden" name="status" value="failed" /> : null}
          <label for="function">Function</label>
          <select id="function" name="function">
            <option value="" selected={!props.fn}>
              All functions
            </option>
            {props.functions.map((f) => (
              <option value={f} selected={props.fn === f}>
                {f}
              </option>
            ))}
          </select>
          <button type="submit">Show</button>
        </form>
      </div>
      {props.rows.length === 0 ? (
        <p id="no-invocations">
          No {props.failed ? 'failed ' : ''}invocations{props.fn ? ` of ${props.fn}` : ''} yet.
        </p>
      ) : (
        <Table
          caption="Recent invocations"
          columns={['Invocation', 'Time', 'Function', 'Version', { label: 'Status', num: true }, { label: 'Duration', num: true }, 'Start', 'Failure']}
        >
          {props.rows.map((r) => (
            <tr data-invocation={r.id} data-status={String(r.status)} class={isFailure(r) ? 'failed' : undefined}>
              <th scope="row">
                <a href={logsOf(r.fn, r.id)} aria-label={`Log lines of ${r.id}`}>
                  <code>{r.id}</code>
                </a>
              </th>
              <td>
                <time datetime={isoAttr(r.at)}>{iso(r.at)}</time>
              </td>
              <td>
                <a href={fnPath(r.fn)}>{r.fn}</a>
              </td>
              <td>{r.seq !== null ? `v${r.seq}` : '–'}</td>
              <td class="num">
                <span class={`status ${isFailure(r) ? 'failed' : 'succeeded'}`}>{r.status}</span>
              </td>
              <td class="num">{duration(r.ms)}</td>
              <td>{r.cold ? 'cold' : r.code ? '–' : 'warm'}</td>
              <td>
                {r.code ? (
                  <>
                    {r.phase ? <span class="phase">{r.phase}</span> : null} <code>{r.code}</code>
                  </>
                ) : r.status >= 500 ? (
                  'the function answered ' + r.status
                ) : (
                  '–'
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      <section aria-labelledby="jobs-title">
        <h2 id="jobs-title">Async and cron invocations</h2>
        {props.jobs === null ? <Unavailable what="Async invocation" /> : <Jobs jobs={props.jobs} showFunction />}
      </section>
    </Layout>
  );
}
