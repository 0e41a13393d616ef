/** The functions page (`/console/`): every function with its traffic, and charts of all of them. */
import type { FunctionRow } from '../figures.ts';
import { Chart } from './charts.tsx';
import { fnPath, routesText, span } from './format.ts';
import { Layout, Table } from './layout.tsx';

export function FunctionsPage(props: { csrf: string; functions: FunctionRow[]; windowSeconds: number }) {
  const names = props.functions.map((f) => f.name);
  return (
    <Layout title="Functions" csrf={props.csrf} page="functions" section="functions" poll={names}>
      <h1>Functions</h1>
      {props.functions.length === 0 ? (
        <p>
          No functions yet. Deploy one with <code>ignition deploy &lt;dir&gt;</code>.
        </p>
      ) : (
        <>
          <p class="muted" id="window">
            Rates, errors, latencies and cold starts over the last <span data-window>{span(props.windowSeconds)}</span>; refreshed every 5 s.
          </p>
          <Table
            caption="Deployed functions"
            columns={[
              'Name',
              'Latest',
              'Aliases and weights',
              'Instances',
              { label: 'Req/s', num: true },
              { label: 'Errors', num: true },
              { label: 'p50', num: true },
              { label: 'p99', num: true },
              { label: 'Cold starts', num: true },
              'URL',
            ]}
          >
            {props.functions.map((f) => (
              <tr data-function={f.name}>
                <th scope="row">
                  <a href={fnPath(f.name)}>{f.name}</a>
                </th>
                <td>{f.latest ? <span title={f.latest.digest}>v{f.latest.seq}</span> : '–'}</td>
                <td class="aliases">
                  {f.aliases.map((a) => (
                    <span class="alias" data-alias={a.name}>
                      <b>{a.name}</b> → {routesText(a.routes)}
                    </span>
                  ))}
                </td>
                <td>
                  <Instances shown={f.shown} />
                </td>
                <td class="num" data-field="rps">
                  {f.shown.rps}
                </td>
                <td class="num">
                  {/* The way to a failure's log lines: this function's failed invocations. */}
                  <a
                    href={`/console/invocations?function=${encodeURIComponent(f.name)}&status=failed`}
                    data-field="errorRate"
                    title={`Failed invocations of ${f.name}`}
                  >
                    {f.shown.errorRate}
                  </a>
                </td>
                <td class="num" data-field="p50">
                  {f.shown.p50}
                </td>
                <td class="num" data-field="p99">
                  {f.shown.p99}
                </td>
                <td class="num" data-field="cold">
                  {f.shown.cold}
                </td>
                <td>
                  <code>{f.url}</code>
                </td>
              </tr>
            ))}
          </Table>
          <h2>Last five minutes</h2>
          <div class="charts">
            <Chart id="chart" kind="requests" functions={names} title="Requests per 10 s" label="Requests per 10 seconds, by function" />
            <Chart id="chart-errors" kind="errors" functions={names} title="Errors per 10 s" label="Failed invocations per 10 seconds, by function" />
            <Chart id="chart-latency" kind="p99" functions={names} title="p99 latency, ms" label="99th percentile latency per 10 seconds, by function" />
          </div>
        </>
      )}
    </Layout>
  );
}

/** Ready, busy and starting instances, each a field the script refreshes. */
export function Instances(props: { shown: FunctionRow['shown'] }) {
  return (
    <span class="instances">
      <span data-field="ready">{props.shown.ready}</span> ready · <span data-field="busy">{props.shown.busy}</span> busy ·{' '}
      <span data-field="starting">{props.shown.starting}</span> starting
    </span>
  );
}
