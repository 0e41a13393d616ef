/**
 * `ignition rollback --to` the version latest already runs says so and changes nothing.
 * `ignition logs`: -n is checked, and a count above what the daemon returns at once is said, not
 * cut silently; a follow ends with a clear line when the function is removed; a reader that
 * closes the pipe early (`| head -1`) ends the command quietly with status 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { CLI, deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-logs-'));
// Each request logs `n` lines long enough that a few thousand fill a pipe's buffer many times.
const chatty = `export default { fetch: (req: Request) => {
  const n = Number(new URL(req.url).searchParams.get('n') ?? 1);
  for (let i = 0; i < n; i++) console.log('line ' + i + ' ' + 'x'.repeat(80));
  return new Response('ok');
} };\n`;

test.before(async () => {
  d = await startTestDaemon();
  writeFileSync(path.join(dir, 'index.ts'), chatty);
});
test.after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir });

test('rollback to the version latest already runs says so and changes nothing', async () => {
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'rb', '--env', 'V=1']);
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'rb', '--env', 'V=2']);
  const moved = await d.cli(['rollback', 'rb', '--to', 'v1']);
  assert.is(moved.code, 0, moved.stderr);
  assert.is(moved.stdout, 'rb: latest moved from v2 to v1\n');
  const aliasAt = async () => {
    const r = await request(`${d.url}/v1/functions/rb/aliases`, { headers: d.auth() });
    return JSON.stringify((await r.body.json()) as unknown);
  };
  const before = await aliasAt();
  const again = await d.cli(['rollback', 'rb', '--to', 'v1']);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stdout, 'rb: latest is already at v1; nothing changed\n');
  assert.is(await aliasAt(), before, 'the alias was not rewritten');
  const json = JSON.parse((await d.cli(['rollback', 'rb', '--to', '1', '--json'])).stdout);
  assert.is(json.changed, false);
});

test('logs -n: checked, and a count above the daemon limit is said', async () => {
  await deploy(d, dir, ['--name', 'chatty']);
  assert.is((await request(`${d.url}/fn/chatty/?n=3`)).statusCode, 200);
  const bad = await d.cli(['logs', 'chatty', '-n', 'abc']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /^error: --limit \(-n\) must be a whole number of lines from 1 \(got "abc"\) \[bad_request\]\n$/);
  const many = await d.cli(['logs', 'chatty', '-n', '20000']);
  assert.is(many.code, 0, many.stderr);
  assert.match(many.stderr, /showing at most the newest 10000 lines/);
  assert.match(many.stdout, /line 2 x+\n$/);
});

test('logs piped into head -1: status 0, nothing on stderr', async () => {
  const r = await request(`${d.url}/fn/chatty/?n=3000`);
  assert.is(r.statusCode, 200);
  await r.body.text();
  // `head -1`: read the first line, then close the pipe while the CLI is still writing.
  const child = spawn(process.execPath, [CLI, 'logs', 'chatty', '-n', '5000'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  let first = '';
  child.stdout.on('data', (b) => {
    first += b;
    if (first.includes('\n')) child.stdout.destroy();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.match(first, /^\S+ \S+ info  line \d+ x+\n/);
  assert.is(stderr, '', 'no stack, no message');
  assert.is(code, 0);
});

test('logs -f ends with a clear line when the function is removed', async () => {
  const child = spawn(process.execPath, [CLI, 'logs', '-f', 'chatty', '-n', '1'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  try {
    for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /line \d+/, 'the follow printed the backlog');
    const rm = await d.cli(['rm', 'chatty']);
    assert.is(rm.code, 0, rm.stderr);
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
    assert.is(code, 0, `the follow ended: ${stderr}`);
    assert.is(stderr, 'ignition: function chatty was removed; no more logs\n');
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
});

test.run();
