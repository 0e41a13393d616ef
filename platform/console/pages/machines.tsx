/**
 * Machines (`/console/machines`): the VMs `ignition vm ps` lists, with state, driver and size,
 * each with an inspect page and a stop (what `ignition vm kill` does: the record stays); and the
 * machines serving functions, which the function layer starts and stops on its own.
 */
import type { VmService } from '../../vms/service.ts';
import { duration, fnPath, iso, isoAttr, vmPath } from './format.ts';
import { ConfirmPage, Crumbs, Layout, Table, Unavailable } from './layout.tsx';
import type { LogRow } from './function.tsx';

export type VmRow = ReturnType<VmService['describe']>;

export interface InstanceRow {
  id: string;
  fn: string;
  seq: number;
  state: string;
  inflight: number;
  served: number;
  lastUsed: number;
}

/** States a stop applies to; a stopped or failed machine has nothing left to stop. */
export const STOPPABLE = new Set(['starting', 'running', 'paused']);

const memory = (v: VmRow) => (v.memoryMiB === null ? '–' : `${v.memoryMiB} MiB`);

export function MachinesPage(props: { csrf: string; vms: VmRow[] | null; instances: InstanceRow[] }) {
  return (
    <Layout title="Machines" csrf={props.csrf} page="machines" section="machines">
      <h1>Machines</h1>
      <section aria-labelledby="vms-title">
        <h2 id="vms-title">VMs</h2>
        {props.vms === null ? (
          <Unavailable what="The VM surface" />
        ) : props.vms.length === 0 ? (
          <p class="muted" id="no-vms">
            No VMs. Start one with <code>ignition vm run</code>.
          </p>
        ) : (
          <Table
            caption="VMs, as ignition vm ps lists them"
            columns={[
              'Id',
              'Name',
              'State',
              'Driver',
              { label: 'Memory', num: true },
              { label: 'vCPUs', num: true },
              { label: 'PID', num: true },
              'Source',
              'Created',
              { label: 'Action', hidden: true },
            ]}
          >
            {props.vms.map((v) => (
              <tr data-vm={v.id} data-state={v.state}>
                <th scope="row">
                  <a href={vmPath(v.id)}>
                    <code>{v.id}</code>
                  </a>
                </th>
                <td>{v.name ?? '–'}</td>
                <td>
                  <span class={`state ${v.state}`}>{v.state}</span>
                </td>
                <td>{v.driver}</td>
                <td class="num">{memory(v)}</td>
                <td class="num">{v.vcpus ?? '–'}</td>
                <td class="num">{v.pid ?? '–'}</td>
                <td>{v.source ? <code>{v.source}</code> : 'base image'}</td>
                <td>
                  <time datetime={v.createdAt}>{iso(v.createdAt)}</time>
                </td>
                <td>
                  {STOPPABLE.has(v.state) ? (
                    <a class="button" href={`${vmPath(v.id)}/stop`}>
                      Stop {v.name ?? v.id}
                    </a>
                  ) : null}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </section>
      <section aria-labelledby="instances-title">
        <h2 id="instances-title">Function instances</h2>
        {props.instances.length === 0 ? (
          <p class="muted">No instance runs now: functions scale to zero unless they keep some warm.</p>
        ) : (
          <Table columns={['Id', 'Function', 'Version', 'State', { label: 'In flight', num: true }, { label: 'Served', num: true }, 'Last used']}>
            {props.instances.map((i) => (
              <tr data-instance={i.id}>
                <th scope="row">
                  <code>{i.id}</code>
                </th>
                <td>
                  <a href={fnPath(i.fn)}>{i.fn}</a>
                </td>
                <td>v{i.seq}</td>
                <td>{i.state}</td>
                <td class="num">{i.inflight}</td>
                <td class="num">{i.served}</td>
                <td>
                  <time datetime={isoAttr(i.lastUsed)}>{iso(i.lastUsed)}</time>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </section>
    </Layout>
  );
}

/** One VM in full, as `ignition vm inspect` shows it, with its step timings and console output. */
export function MachinePage(props: { csrf: string; vm: VmRow; logs: LogRow[] }) {
  const v = props.vm;
  return (
    <Layout title={v.name ?? v.id} csrf={props.csrf} page="machine" section="machines">
      <Crumbs trail={[['Machines', '/console/machines']]} here={v.name ?? v.id} />
      <h1>
        {v.name ?? v.id} <span class={`state ${v.state}`}>{v.state}</span>
      </h1>
      <dl class="facts" data-vm={v.id}>
        <dt>Id</dt>
        <dd>
          <code>{v.id}</code>
        </dd>
        <dt>Name</dt>
        <dd>{v.name ?? '–'}</dd>
        <dt>State</dt>
        <dd data-field="state">{v.state}</dd>
        <dt>Driver</dt>
        <dd>{v.driver}</dd>
        <dt>Memory</dt>
        <dd>{memory(v)}</dd>
        <dt>vCPUs</dt>
        <dd>{v.vcpus ?? '–'}</dd>
        <dt>PID</dt>
        <dd>{v.pid ?? '–'}</dd>
        <dt>Source</dt>
        <dd>{v.source ? <code>{v.source}</code> : 'the base image'}</dd>
        <dt>Workspace</dt>
        <dd>
          <code>{v.workspace}</code>
        </dd>
        <dt>Created</dt>
        <dd>
          <time datetime={v.createdAt}>{iso(v.createdAt)}</time>
        </dd>
      </dl>
      {STOPPABLE.has(v.state) ? (
        <p>
          <a class="button" href={`${vmPath(v.id)}/stop`}>
            Stop this VM
          </a>
        </p>
      ) : null}
      <section aria-labelledby="timings-title">
        <h2 id="timings-title">Start-up steps</h2>
        {v.timings.length === 0 ? (
          <p class="muted">None recorded (the VM was started by an earlier daemon, or has stopped).</p>
        ) : (
          <Table columns={['Step', { label: 'Took', num: true }]}>
            {v.timings.map((t) => (
              <tr>
                <th scope="row">{t.step}</th>
                <td class="num">{duration(t.ms)}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
      <section aria-labelledby="vm-logs-title">
        <h2 id="vm-logs-title">Console output</h2>
        {props.logs.length === 0 ? (
          <p class="muted">No output.</p>
        ) : (
          <ol class="logs">
            {props.logs.map((l) => (
              <li class={`log ${l.level}`}>
                <time datetime={isoAttr(l.time)}>{iso(l.time)}</time> <span class="lvl">{l.level}</span> <span class="msg">{l.message}</span>
              </li>
            ))}
          </ol>
        )}
      </section>
    </Layout>
  );
}

export function StopMachinePage(props: { csrf: string; vm: VmRow }) {
  const v = props.vm;
  const label = v.name ?? v.id;
  return (
    <ConfirmPage
      csrf={props.csrf}
      title={`Stop ${label}`}
      page="machine-stop"
      section="machines"
      crumbs={[
        ['Machines', '/console/machines'],
        [label, vmPath(v.id)],
      ]}
      heading={`Stop the VM ${label}?`}
      action={`${vmPath(v.id)}/stop`}
      confirm={`Stop ${label}`}
      cancel={vmPath(v.id)}
      danger
    >
      <p>
        Its processes end (a second's grace, then killed); whatever it holds in memory is lost. The record and the workspace stay, as with{' '}
        <code>ignition vm kill</code>; <code>ignition vm rm {label}</code> removes them.
      </p>
    </ConfirmPage>
  );
}
