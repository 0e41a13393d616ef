/**
 * Every template: `ignition init` scaffolds it, its own `npm test` passes, and its `npm run deploy`
 * deploys it with the `ignition` command on PATH as the README's `npm link` puts it there, and it
 * answers as generated. Scaffolds are created inside the repository (a git-ignored .tmp folder) so
 * that their npm dependencies (hono, tsx) resolve from this checkout's node_modules, as they would
 * from the scaffold's own after `npm install` (scripts/first-hour.sh runs that install for real).
 * What `init` prints next, the templates' scripts and the README's Scaffolding section agree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { CLI, ROOT, runCli, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

let d: TestDaemon;
let work: string;
/** A directory holding `ignition`, a link to the built CLI, as `npm link` makes it. */
let linkedBin: string;

test.before(async () => {
  d = await startTestDaemon();
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  work = mkdtempSync(path.join(ROOT, '.tmp', 'templates-'));
  linkedBin = tempDir('ign-bin-');
  symlinkSync(CLI, path.join(linkedBin, 'ignition'));
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
  test(`template ${template}: init, npm test, npm run deploy, invoke`, async () => {
    const dir = path.join(work, `my-${template}`);
    const init = await runCli(['init', dir, '--template', template]);
    assert.is(init.code, 0, init.stderr);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    assert.is(pkg.name, `my-${template}`);
    // As a user with `ignition` linked runs them: npm, its scripts, and the CLI found on PATH.
    const env = { ...process.env, PATH: `${linkedBin}${path.delimiter}${process.env.PATH}`, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir };
    const t = spawnSync('npm', ['test'], { cwd: dir, encoding: 'utf8', env });
    assert.is(t.status, 0, t.stdout + t.stderr);
    // A test file with no test in it also exits 0 with "# fail 0" (Node 20 even reports the
    // file itself as one passing test), so count the tests that ran under their own names.
    const file = path.join(dir, 'test', 'index.test.ts');
    const ran = [...t.stdout.matchAll(/^ok \d+ - (.+)$/gm)].map((m) => m[1]).filter((name) => name !== file && name !== 'test/index.test.ts');
    assert.ok(ran.length > 0, `the template's own test file runs no test:\n${t.stdout}`);
    const counts = testCounts(t.stdout);
    assert.equal(counts, { tests: counts.tests, pass: counts.tests, fail: 0, skipped: 0, todo: 0 }, 'every test of the template ran and passed');
    const dep = spawnSync('npm', ['run', 'deploy'], { cwd: dir, encoding: 'utf8', env });
    assert.is(dep.status, 0, dep.stdout + dep.stderr);
    const res = await request(`${d.url}/fn/my-${template}${path_}`);
    check(await res.body.text(), res.statusCode);
  });
}

test("init's next steps, the templates' deploy scripts and the README's Scaffolding section agree", async () => {
  const init = await runCli(['init', 'my-api', '--template', 'hono'], { cwd: work, env: { PATH: linkedBin } });
  assert.is(init.code, 0, init.stderr);
  const next = /^Next: (.+)$/m.exec(init.stdout)?.[1];
  assert.is(next, 'cd my-api && npm install && npm test && ignition deploy .');
  assert.not.match(init.stdout, /not on your PATH/, 'no note when ignition is on PATH');
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const scaffolding = /### Scaffolding\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.ok(scaffolding.split('\n').includes(next!), `the README's Scaffolding block lacks "${next}":\n${scaffolding}`);
  // No command the README shows goes through npx, which would look for a package on the registry.
  const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
  assert.equal(
    commands.filter((line) => /\bnpx ignition\b/.test(line)),
    [],
  );
  for (const template of readdirSync(path.join(ROOT, 'templates'))) {
    const scripts = JSON.parse(readFileSync(path.join(ROOT, 'templates', template, 'package.json'), 'utf8')).scripts;
    assert.is(scripts.deploy, 'ignition deploy .', `${template}'s npm run deploy is the last step init prints`);
  }
});

test('init says how to put ignition on PATH when it is not there', async () => {
  const init = await runCli(['init', path.join(work, 'no-path'), '--template', 'hello'], { env: { PATH: tempDir('ign-empty-path-') } });
  assert.is(init.code, 0, init.stderr);
  assert.match(init.stdout, `Note: \`ignition\` is not on your PATH; run \`npm link --ignore-scripts\` in ${ROOT}`);
});

/** Whether a package in this checkout's node_modules runs a script when installed. */
function installScript(name: string): boolean {
  const file = path.join(ROOT, 'node_modules', name, 'package.json');
  if (!existsSync(file)) return false;
  const scripts = (JSON.parse(readFileSync(file, 'utf8')).scripts ?? {}) as Record<string, string>;
  return ['preinstall', 'install', 'postinstall'].some((s) => s in scripts);
}

/** A package and everything it depends on, as resolved in this checkout's node_modules. */
function closure(names: string[], seen = new Set<string>()): Set<string> {
  for (const name of names) {
    if (seen.has(name)) continue;
    seen.add(name);
    const file = path.join(ROOT, 'node_modules', name, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    closure(Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }), seen);
  }
  return seen;
}

test("every template's allowScripts covers the install scripts of its dependencies (npm 11 warns otherwise)", () => {
  for (const template of readdirSync(path.join(ROOT, 'templates'))) {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'templates', template, 'package.json'), 'utf8'));
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    const withScripts = [...closure(deps)].filter(installScript).sort();
    const allowed = Object.keys(pkg.allowScripts ?? {}).sort();
    assert.equal(allowed, withScripts, `${template}: allowScripts`);
  }
});

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
