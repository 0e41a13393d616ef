/**
 * The agent, through the real host path: process driver machine → vsock handshake on its Unix
 * socket → typed AgentClient. Malformed requests, failing loads, exec of a missing binary and a
 * runaway command all get structured answers and the agent stays up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { AgentClient, AgentProblemError } from '../../platform/guest/agent-client.ts';
import { connectVsock } from '../../platform/guest/vsock.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import type { ExecEvent } from '../../agent/protocol.ts';
import { ROOT } from '../support/daemon.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-agent-'));
const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto' });
let machine: Machine;
let client: AgentClient;

test.before(async () => {
  machine = await driver.boot({ id: 'vm_agenttest', workspace: path.join(dir, 'ws'), env: {}, network: false, labels: {}, memoryMiB: 128, vcpus: 1 });
  client = new AgentClient(machine);
});
test.after(async () => {
  await client?.close();
  await driver.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(it: AsyncGenerator<ExecEvent>) {
  const events: ExecEvent[] = [];
  for await (const e of it) events.push(e);
  return events;
}

test('health before any function: ready (none expected), not loaded', async () => {
  const h = await client.health();
  assert.is(h.status, 'ok');
  assert.is(h.function.loaded, false);
});

test('the handshake refuses ports nobody listens on (EOF without OK)', async () => {
  try {
    await connectVsock(path.join(machine.workspace, 'v.sock'), 1234);
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code: string }).code, 'vsock_refused');
  }
});

test('a function that throws at load is a 422 problem; the agent stays up', async () => {
  try {
    await client.loadFunction({ code: 'throw new Error("nope at load")' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, AgentProblemError);
    assert.is((err as AgentProblemError).code, 'function_load_failed');
    assert.match((err as AgentProblemError).detail, /nope at load/);
  }
  try {
    await client.loadFunction({ code: 'export const x = 1;', filename: 'nohandler.mjs' });
    assert.unreachable();
  } catch (err) {
    assert.is((err as AgentProblemError).code, 'function_no_handler');
  }
  assert.is((await client.health()).status, 'ok');
});

test('malformed control requests get structured errors', async () => {
  const res = await client.dispatcher.request({ path: '/v1/function', method: 'PUT', body: '{oops', headers: { 'content-type': 'application/json' } });
  assert.is(res.statusCode, 400);
  assert.is(((await res.body.json()) as { code: string }).code, 'agent_bad_request');
  const nf = await client.dispatcher.request({ path: '/v1/nothing', method: 'GET' });
  assert.is(nf.statusCode, 404);
  assert.is(((await nf.body.json()) as { code: string }).code, 'agent_not_found');
});

test('load, warm up and invoke a function; restore runs onRestore', async () => {
  const code = `let warmed = false; let restored = 0;
    export function warmup() { warmed = true; }
    export function onRestore() { restored++; }
    export default { fetch: (req, env) => Response.json({ warmed, restored, env }) };`;
  const loaded = await client.loadFunction({ code, env: { A: '1' } });
  assert.is(loaded.ready, true);
  const r = await client.restore({ timeMs: Date.now(), env: { A: '2' } });
  assert.is(r.restores, 1);
  assert.is(r.clockSet, false, 'a process never sets the host clock');
  assert.type(r.onRestoreMs, 'number');
  const res = await client.invoke({ path: '/x', method: 'GET', headers: { host: 'fn' }, body: null });
  assert.equal(JSON.parse(Buffer.concat(await res.body.toArray()).toString()), { warmed: true, restored: 1, env: { A: '2' } });
});

test('exec streams output and the exit code', async () => {
  const events = await collect(client.exec({ cmd: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'] }));
  assert.ok(events.some((e) => e.type === 'stdout' && e.data.includes('out')));
  assert.ok(events.some((e) => e.type === 'stderr' && e.data.includes('err')));
  const exit = events.at(-1)!;
  assert.is(exit.type, 'exit');
  assert.is((exit as { code: number }).code, 3);
});

test('exec of a missing binary is an error event', async () => {
  const events = await collect(client.exec({ cmd: '/no/such/binary' }));
  assert.equal(
    events.map((e) => e.type),
    ['error'],
  );
  assert.is((events[0] as { code: string }).code, 'exec_not_found');
});

test('a runaway command is killed with its whole process group at the timeout', async () => {
  const events = await collect(client.exec({ cmd: 'sh', args: ['-c', 'sleep 60 & echo $!; wait'], timeoutMs: 300 }));
  const exit = events.find((e) => e.type === 'exit') as { timedOut: boolean; signal: string };
  assert.is(exit.timedOut, true);
  assert.is(exit.signal, 'SIGKILL');
  // The grandchild (sleep 60) died too: ask the agent whether that pid still exists.
  const pid = (events.find((e) => e.type === 'stdout') as { data: string }).data.trim();
  const check = await collect(client.exec({ cmd: 'sh', args: ['-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`] }));
  assert.ok(check.some((e) => e.type === 'stdout' && e.data.includes('gone')));
  assert.is((await client.health()).status, 'ok');
});

test.run();
