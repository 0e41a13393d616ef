/**
 * Warming up an agent with no function (agent/warm.ts, platform/guest/warm-up.ts), on real agent
 * processes started by the process driver: the built-in function answers while the warm-up runs
 * and never after it, a function and the warm-up never share an agent, a warm-up that fails is
 * told apart by whether it was ended, and the driver warms its spares (and skips it when starts
 * come faster than spares). The response reader is checked on its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { AgentClient, AgentProblemError } from '../../platform/guest/agent-client.ts';
import { ResponseCounter, warmUpAgent, warmUpOrCold, warmUpRequest, WarmUpFailed } from '../../platform/guest/warm-up.ts';
import type { IgnitionError } from '../../platform/errors.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import { agentRequest } from '../../platform/vmm/agent-call.ts';
import { ROOT } from '../support/daemon.ts';

const AGENT = path.join(ROOT, 'dist', 'agent.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-warmup-'));
const drivers: ProcessDriver[] = [];
let n = 0;

async function boot(driver?: ProcessDriver): Promise<{ machine: Machine; client: AgentClient }> {
  const d = driver ?? new ProcessDriver({ agentPath: AGENT, sandbox: 'auto' });
  if (!driver) drivers.push(d);
  const machine = await d.boot({ id: `vm_warm${++n}`, workspace: path.join(dir, `ws${n}`), env: {}, network: false, labels: {}, memoryMiB: 128, vcpus: 1 });
  return { machine, client: new AgentClient(machine) };
}

async function invoke(client: AgentClient, p = '/x'): Promise<{ status: number; text: string }> {
  const res = await client.invoke({ path: p, method: 'GET', headers: {}, body: null });
  return { status: res.statusCode, text: await res.body.text() };
}

test.after(async () => {
  // Closing ends a warm-up on its way (the last test leaves one of a million requests).
  await Promise.all(drivers.map((d) => d.close()));
  rmSync(dir, { recursive: true, force: true });
});

test('ResponseCounter: lengths, chunks split anywhere, no body, and the first failed status', () => {
  const stream = Buffer.from(
    'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello' +
      'HTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n' +
      'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}',
  );
  // Every way of cutting the stream in two gives the same count.
  for (let cut = 0; cut <= stream.length; cut++) {
    const c = new ResponseCounter();
    c.push(stream.subarray(0, cut));
    c.push(stream.subarray(cut));
    assert.is(c.count, 4, `cut at ${cut}`);
    assert.is(c.failed, 'HTTP/1.1 503 Service Unavailable');
  }
  const byByte = new ResponseCounter();
  for (const b of stream) byByte.push(Buffer.from([b]));
  assert.is(byByte.count, 4);
  assert.throws(() => new ResponseCounter().push(Buffer.from('SSH-2.0-x\r\n\r\n')), /not an HTTP\/1\.1 response/);
});

test('warm-up requests are well-formed HTTP/1.1: GETs, and POSTs whose length matches their body', () => {
  for (let i = 0; i < 10; i++) {
    const text = warmUpRequest(i);
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head, /^(GET|POST) \/v1\/invoke\/warm-up\/\d\?n=\d+ HTTP\/1\.1\r\nhost: /);
    assert.match(head, /\r\nx-ignition-invocation-id: inv_warmup\d+/);
    const length = /content-length: (\d+)/.exec(head);
    if (head.startsWith('POST')) assert.is(Number(length?.[1]), Buffer.byteLength(body));
    else assert.is(body, '');
  }
});

test('a warm-up reaches the built-in function, then the agent has no function again', async () => {
  const { machine, client } = await boot();
  const r = await warmUpAgent(machine, { requests: 300 });
  assert.is(r.requests, 300);
  const h = await client.health();
  assert.equal(h.warmUp, { active: false, served: 300 });
  assert.is(h.function.loaded, false);
  // The built-in function answers nothing once the warm-up is over.
  const after = await invoke(client);
  assert.is(after.status, 503);
  assert.match(after.text, /function_not_loaded/);
  // And the agent takes a function as any other.
  await client.loadFunction({ code: 'export default { fetch: () => new Response("real") }' });
  assert.equal(await invoke(client), { status: 200, text: 'real' });
  await client.close();
});

test('a function and the warm-up never share an agent (409 either way)', async () => {
  const { machine, client } = await boot();
  const warmUp = (method: 'PUT' | 'DELETE') => agentRequest(machine, method, '/v1/warm-up', undefined, 5000);
  assert.is((await warmUp('PUT')).status, 200);
  assert.match((await invoke(client)).text, /warm/);
  try {
    await client.loadFunction({ code: 'export default { fetch: () => new Response("real") }' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, AgentProblemError);
    assert.is((err as AgentProblemError).status, 409);
    assert.is((err as AgentProblemError).code, 'agent_warming_up');
  }
  assert.equal((await warmUp('DELETE')).body, { active: false, served: 1 });
  await client.loadFunction({ code: 'export default { fetch: () => new Response("real") }' });
  const refused = await warmUp('PUT');
  assert.is(refused.status, 409);
  assert.is((refused.body as { code: string }).code, 'agent_function_loaded');
  assert.equal(await invoke(client), { status: 200, text: 'real' });
  await client.close();
});

test('a warm-up the agent refuses fails as ended; the machine keeps its function', async () => {
  const { machine, client } = await boot();
  await client.loadFunction({ code: 'export default { fetch: () => new Response("mine") }' });
  try {
    await warmUpAgent(machine, { requests: 50 });
    assert.unreachable();
  } catch (err) {
    assert.ok(WarmUpFailed.is(err));
    assert.is((err as IgnitionError).data.ended, true);
    assert.match((err as Error).message, /409 agent_function_loaded/);
  }
  const r = await warmUpOrCold(machine, { requests: 50 });
  assert.ok('failed' in r);
  assert.equal(await invoke(client), { status: 200, text: 'mine' });
  await client.close();
});

test('a stopped warm-up ends early, without failing', async () => {
  const { machine, client } = await boot();
  const signal = { aborted: false };
  const t = setTimeout(() => (signal.aborted = true), 50);
  const r = await warmUpAgent(machine, { requests: 1_000_000, signal });
  clearTimeout(t);
  assert.ok(r.requests > 0 && r.requests < 1_000_000, `answered ${r.requests}`);
  assert.equal((await client.health()).warmUp, { active: false, served: r.requests });
  await client.close();
});

test('an agent that dies during a warm-up: the warm-up fails and was not ended', async () => {
  const { machine, client } = await boot();
  setTimeout(() => process.kill(machine.pid!, 'SIGKILL'), 100);
  try {
    await warmUpOrCold(machine, { requests: 1_000_000, timeoutMs: 2000 });
    assert.unreachable();
  } catch (err) {
    assert.ok(WarmUpFailed.is(err), String(err));
    assert.is((err as IgnitionError).data.ended, false);
  }
  await client.close();
});

test('the driver warms its spare before keeping it; a start adopts the warm spare', async () => {
  const steps: Array<{ flow: string; step: string; ok: boolean }> = [];
  const driver = new ProcessDriver({ agentPath: AGENT, sandbox: 'auto', spares: 1, spareWarmUp: 240, workspacesDir: path.join(dir, 'spares1'), onStep: (e) => steps.push(e) });
  drivers.push(driver);
  await driver.spares!.settled();
  assert.is(driver.spares!.size, 1);
  assert.ok(steps.some((s) => s.flow === 'spare' && s.step === 'warm-up' && s.ok), JSON.stringify(steps));
  const { machine, client } = await boot(driver);
  assert.ok(machine.timings.some((t) => t.step === 'spare'), 'the start adopted the spare');
  const h = await client.health();
  assert.equal(h.warmUp, { active: false, served: 240 });
  await client.close();
});

test('a start that finds no spare ready: the spare on its way skips its warm-up', async () => {
  const driver = new ProcessDriver({ agentPath: AGENT, sandbox: 'auto', spares: 1, spareWarmUp: 1_000_000, workspacesDir: path.join(dir, 'spares2') });
  drivers.push(driver);
  // The spare is still starting: this start misses it and starts cold.
  const { machine, client } = await boot(driver);
  assert.not.ok(machine.timings.some((t) => t.step === 'spare'));
  await client.close();
  await driver.spares!.settled();
  assert.is(driver.spares!.size, 1);
  const spare = await boot(driver);
  const served = (await spare.client.health()).warmUp.served;
  assert.ok(served < 1_000_000, `the spare answered ${served} warm-up requests`);
  await spare.client.close();
});

test.run();
