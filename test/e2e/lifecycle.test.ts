/**
 * Daemon lifecycle: graceful shutdown drains in-flight requests and leaves no process or
 * workspace behind; a restart on the same data directory serves the same functions; a daemon
 * killed outright leaves nothing that the next start does not reap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import Database from 'better-sqlite3';
import { deploy, FIXTURES, startTestDaemon } from '../support/daemon.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ignition-life-'));
test.after(() => rmSync(dataDir, { recursive: true, force: true }));

/** Pids of live processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

// Machine workspaces, not the process driver's copy of the agent (`.agent`, made again at each start).
const machines = () => readdirSync(path.join(dataDir, 'machines')).filter((n) => n !== '.agent');

test('SIGTERM drains an in-flight request, then stops every instance', async () => {
  const d = await startTestDaemon({ dataDir });
  await deploy(d, path.join(FIXTURES, 'slow'));
  await deploy(d, path.join(FIXTURES, 'counter'));
  const inflight = request(`${d.url}/fn/slow/?ms=1500`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  await new Promise((r) => setTimeout(r, 400));
  const code = await d.stop('SIGTERM');
  const res = await inflight;
  assert.is(res.status, 200);
  assert.is(res.body, 'slept 1500');
  assert.is(code, 0);
  assert.equal(processesMentioning(path.join(dataDir, 'machines')), [], 'no instance process left');
  assert.equal(machines(), [], 'no workspace left');
});

test('a restarted daemon serves the same functions', async () => {
  const d = await startTestDaemon({ dataDir });
  const ls = JSON.parse((await d.cli(['ls', '--json'])).stdout).map((f: { name: string }) => f.name);
  assert.equal(ls.sort(), ['counter', 'slow']);
  const res = await request(`${d.url}/fn/counter/`);
  assert.is(res.statusCode, 200);
  await res.body.text();
  await d.stop();
});

test('after a SIGKILL the next start reaps what was left', async () => {
  const d = await startTestDaemon({ dataDir });
  const res = await request(`${d.url}/fn/counter/`);
  await res.body.text();
  const before = machines();
  assert.ok(before.length >= 1, 'instances were running');
  await d.stop('SIGKILL');
  const d2 = await startTestDaemon({ dataDir });
  try {
    for (const id of before) assert.not.ok(machines().includes(id), `${id} reaped`);
    const db = new Database(path.join(dataDir, 'ignition.db'), { readonly: true });
    const rows = db.prepare('SELECT id FROM machines').pluck().all() as string[];
    db.close();
    for (const id of before) assert.not.ok(rows.includes(id), `${id} removed from the database`);
  } finally {
    await d2.stop();
  }
  assert.equal(processesMentioning(path.join(dataDir, 'machines')), []);
});

test.run();
