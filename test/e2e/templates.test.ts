/**
 * Every template: `ignition init` scaffolds it, its own test passes, and it deploys and answers as
 * generated. Scaffolds are created inside the repository (a git-ignored .tmp folder) so that their
 * npm dependencies (hono, tsx) resolve from this checkout's node_modules, as they would from the
 * scaffold's own after `npm install`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { ROOT, runCli, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
let work: string;

test.before(async () => {
  d = await startTestDaemon();
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  work = mkdtempSync(path.join(ROOT, '.tmp', 'templates-'));
});
test.after(async () => {
  await d?.stop();
  rmSync(work, { recursive: true, force: true });
});

const cases: Array<[string, string, (body: string, status: number) => void]> = [
  ['hello', '/?name=tmpl', (body) => assert.is(body, 'Hello, tmpl!\n')],
  ['hono', '/books/1', (body) => assert.equal(JSON.parse(body), { id: '1', title: 'The Pragmatic Programmer' })],
  [
    'json-api',
    '/todos/77',
    (body, status) => {
      assert.is(status, 404);
      assert.is(JSON.parse(body).title, 'Not found');
    },
  ],
];

for (const [template, path_, check] of cases) {
  test(`template ${template}: init, its own test, deploy, invoke`, async () => {
    const dir = path.join(work, `my-${template}`);
    const init = await runCli(['init', dir, '--template', template]);
    assert.is(init.code, 0, init.stderr);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    assert.is(pkg.name, `my-${template}`);
    const t = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...['test/index.test.ts']], { cwd: dir, encoding: 'utf8' });
    assert.is(t.status, 0, t.stdout + t.stderr);
    // A test file with no test in it also exits 0 with "# fail 0" (Node 20 even reports the
    // file itself as one passing test), so count the tests that ran under their own names.
    const file = path.join(dir, 'test', 'index.test.ts');
    const ran = [...t.stdout.matchAll(/^ok \d+ - (.+)$/gm)].map((m) => m[1]).filter((name) => name !== file);
    assert.ok(ran.length > 0, `the template's own test file runs no test:\n${t.stdout}`);
    const counts = testCounts(t.stdout);
    assert.equal(counts, { tests: counts.tests, pass: counts.tests, fail: 0, skipped: 0, todo: 0 }, 'every test of the template ran and passed');
    const dep = await d.cli(['deploy', dir]);
    assert.is(dep.code, 0, dep.stderr);
    const res = await request(`${d.url}/fn/my-${template}${path_}`);
    check(await res.body.text(), res.statusCode);
  });
}

/** The totals node --test prints at the end (`# tests 3`, `# pass 3`, …); a missing one is NaN. */
function testCounts(stdout: string): Record<'tests' | 'pass' | 'fail' | 'skipped' | 'todo', number> {
  const count = (label: string) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(stdout)?.[1] ?? NaN);
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), skipped: count('skipped'), todo: count('todo') };
}

test('init refuses an unknown template and a non-empty directory', async () => {
  const bad = await runCli(['init', path.join(work, 'x'), '--template', 'nope']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /unknown template "nope"; choose one of hello, hono, json-api/);
  const again = await runCli(['init', path.join(work, 'my-hello'), '--template', 'hello']);
  assert.is(again.code, 1);
  assert.match(again.stderr, /exists and is not empty \[conflict\]/);
});

test.run();
