/**
 * Spare sandboxes of the process driver (platform/vmm/process/spares.ts), with real agents: the
 * machine contract holds when starts adopt spares; an adopted spare is the same process, renamed
 * into the machine's workspace, and loads the bundle instead of starting; a start of another shape
 * starts cold; a bundle that throws fails the start with the agent's code and leaks nothing; a
 * replacement spare follows every adoption; close() ends them all. Nothing is timed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineContract } from '../firecracker/contract.ts';
import { agentCall, processesUnder } from '../firecracker/support.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { ProcessSpares, SPARE_PREFIX } from '../../platform/vmm/process/spares.ts';
import { createLogger } from '../../platform/log.ts';
import { MachineStartFailed } from '../../platform/vmm/errors.ts';
import { agentRequest } from '../../platform/vmm/agent-call.ts';
import type { BootSpec } from '../../platform/vmm/port.ts';
import { ROOT } from '../support/daemon.ts';

const AGENT = path.join(ROOT, 'dist', 'agent.mjs');

machineContract(
  'process, starts adopting spares',
  ({ root }) =>
    new ProcessDriver({ agentPath: AGENT, sandbox: 'auto', spares: 1, workspacesDir: path.join(root, 'ws'), spareShape: { memoryMiB: 128, network: false } }),
  { forks: [] },
);

const root = mkdtempSync(path.join(os.tmpdir(), 'pspares-'));
const ws = path.join(root, 'ws');
const hello = path.join(root, 'hello.mjs');
writeFileSync(hello, 'export default { fetch: (req, env) => new Response(`spare ${new URL(req.url).pathname} ${env.WHO ?? ""}`) };\n');
const broken = path.join(root, 'broken.mjs');
writeFileSync(broken, 'throw new Error("boom at import");\n');
let driver: ProcessDriver;
let n = 0;

const spec = (extra: Partial<BootSpec> = {}): BootSpec => {
  const id = `vm_s${++n}`;
  return { id, workspace: path.join(ws, id), memoryMiB: 128, vcpus: 1, bundle: hello, env: { WHO: 'ada' }, network: false, labels: {}, ...extra };
};

/** The pids of the processes whose working directory is a spare's. */
function sparePids(): number[] {
  const dirs = existsSync(ws) ? readdirSync(ws).filter((d) => d.startsWith(SPARE_PREFIX)) : [];
  return dirs.flatMap((d) => processesUnder(path.join(ws, d)));
}

async function ready() {
  await driver.spares!.settled();
  assert.is(driver.spares!.size, 1, 'one spare ready');
}

test.before(() => {
  driver = new ProcessDriver({ agentPath: AGENT, sandbox: 'auto', spares: 1, workspacesDir: ws, spareShape: { memoryMiB: 128, network: false } });
});
test.after(async () => {
  await driver?.close();
  assert.equal(sparePids(), [], 'close() ended every spare');
  rmSync(root, { recursive: true, force: true });
});

test('a start that finds no spare ready while one is starting reports the miss; one that finds a spare does not', async () => {
  const shape = { memoryMiB: 128, network: false };
  const finishers: Array<(m: { state: string; destroy(): Promise<void> }) => void> = [];
  let misses = 0;
  const pool = new ProcessSpares(
    { count: 1, dir: root, shape, logger: createLogger({ write: () => undefined }), onMiss: () => misses++ },
    () => new Promise<{ state: string; destroy(): Promise<void> }>((resolve) => finishers.push(resolve)),
  );
  pool.fill();
  assert.is(finishers.length, 1, 'one spare starting');
  assert.is(pool.take(shape), undefined);
  assert.is(misses, 1, 'the start missed while one was on its way');
  finishers[0]({ state: 'running', destroy: async () => undefined });
  await new Promise((r) => setImmediate(r));
  assert.ok(pool.take(shape), 'the spare, once ready');
  assert.is(misses, 1, 'a start that got one is no miss');
  assert.is(finishers.length, 2, 'and its replacement started');
  finishers[1]({ state: 'running', destroy: async () => undefined });
  await pool.close();
});

test('a start adopts the spare: the same process, renamed into the workspace, with the bundle loaded', async () => {
  await ready();
  const [sparePid] = sparePids();
  assert.ok(sparePid, 'the spare runs in its own directory');
  const s = spec();
  const m = await driver.boot(s);
  try {
    assert.ok(
      sparePids().every((p) => p !== sparePid),
      'the adopted process no longer counts as a spare',
    );
    assert.is(readlinkSync(`/proc/${sparePid}/cwd`), s.workspace, 'its directory is now the workspace');
    assert.is(m.workspace, s.workspace);
    assert.is(m.id, s.id);
    const steps = m.timings.map((t) => t.step);
    assert.ok(steps.includes('spare') && steps.includes('load'), `adoption steps: ${steps.join(', ')}`);
    assert.not.ok(steps.includes('spawn'), 'no process was spawned for it');
    const health = await agentRequest<{ function: { loaded: boolean; path: string } }>(path.join(s.workspace, 'v.sock'), 'GET', '/v1/health', undefined, 5000);
    assert.ok(health.body.function.loaded, 'the function is loaded');
    // Inside the sandbox its private copy of the bundle is /var/task/function.mjs.
    assert.match(health.body.function.path, driver.sandbox === 'bubblewrap' ? /^\/var\/task\/function\.mjs$/ : /fn\/function\.mjs$/);
  } finally {
    await m.destroy();
  }
  await ready();
  assert.ok(!sparePids().includes(sparePid), 'a new spare replaced the adopted one');
});

test('the function answers with its environment, handed over at load', async () => {
  await ready();
  const s = spec();
  const m = await driver.boot(s);
  try {
    const res = await agentCall(m, 'GET', '/v1/invoke/hi');
    assert.is(res.status, 200);
    assert.is(res.text, 'spare /hi ada');
  } finally {
    await m.destroy();
  }
});

test('a start of another shape starts cold and leaves the spare alone', async () => {
  await ready();
  const before = sparePids();
  const m = await driver.boot(spec({ memoryMiB: 256 }));
  try {
    assert.ok(
      m.timings.some((t) => t.step === 'spawn'),
      'a sandbox was spawned',
    );
    assert.equal(sparePids(), before, 'the spare is still spare');
  } finally {
    await m.destroy();
  }
});

test("a bundle that throws at import fails the start with the agent's code; nothing is left", async () => {
  await ready();
  const [sparePid] = sparePids();
  const s = spec({ bundle: broken });
  const err = await driver.boot(s).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(MachineStartFailed.is(err), `a machine start failure: ${String(err)}`);
  assert.is((err as { data: Record<string, unknown> }).data.guestCode, 'function_load_failed');
  assert.match((err as Error).message, /boom at import/);
  assert.not.ok(existsSync(s.workspace), 'its workspace is removed');
  assert.throws(() => process.kill(sparePid, 0), 'the adopted process is gone');
  await ready();
});

test.run();
