/**
 * Edges of the CLI through the real built CLI and a real daemon: a reader that closes stdout
 * early, flag values out of range, references to things that do not exist, names for unnamed
 * snapshots, a timed-out exec, colours reaching a pipe, and the format of the daemon's output.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, deploy, FIXTURES, ROOT, runCli, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';

let d: TestDaemon;
const work = mkdtempSync(path.join(os.tmpdir(), 'ign-cli-edges-'));
test.before(async () => {
  d = await startTestDaemon();
  await deploy(d, path.join(FIXTURES, 'counter'));
  await deploy(d, path.join(FIXTURES, 'echo'));
});
test.after(async () => {
  await d?.stop();
  rmSync(work, { recursive: true, force: true });
});

type Snap = { id: string; name: string | null; tags: string[]; labels: Record<string, string> };
async function goldenOf(fn: string): Promise<Snap> {
  const list = JSON.parse((await d.cli(['images', '--json'])).stdout) as Snap[];
  const snap = list.find((s) => s.labels['ignition.function'] === fn);
  if (!snap) throw new Error(`no golden snapshot of ${fn}: ${JSON.stringify(list)}`);
  return snap;
}

/** Runs the CLI with its stdout pipe closed by the reader before the command writes anything. */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a reader that closes stdout early ends the command quietly with 0', async () => {
  for (const args of [['ls'], ['images'], ['token', 'ls'], ['vm', 'ps'], ['--version'], ['--help']]) {
    const r = await runWithClosedStdout(args);
    assert.is(r.stderr, '', `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.code, 0, args.join(' '));
  }
});

test('vm run refuses a size out of range or not a number, in the CLI and in the API', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--memory', 'abc'], /^error: --memory must be an integer from 16 to 32768 \(MiB\); got "abc" \[bad_request\]\n$/],
    [['--memory', '5'], /^error: --memory must be an integer from 16 to 32768 \(MiB\); got "5" \[bad_request\]\n$/],
    [['--memory', '128.5'], /^error: --memory must be an integer from 16 to 32768/],
    [['--vcpus', '0'], /^error: --vcpus must be an integer from 1 to 32 \(vCPUs\); got "0" \[bad_request\]\n$/],
    [['--vcpus', '2x'], /^error: --vcpus must be an integer from 1 to 32/],
  ];
  for (const [flags, message] of cases) {
    const r = await d.cli(['vm', 'run', ...flags]);
    assert.is(r.code, 1, flags.join(' '));
    assert.match(r.stderr, message);
    assert.is(r.stdout, '');
  }
  for (const body of [{ memoryMiB: 5 }, { memoryMiB: 'abc' }, { vcpus: 0 }, { vcpus: 1.5 }, { memoryMiB: null }]) {
    const res = await fetch(`${d.url}/v1/vms`, { method: 'POST', headers: { ...d.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const problem = (await res.json()) as { code: string; detail: string };
    assert.is(res.status, 400, JSON.stringify(body));
    assert.is(problem.code, 'bad_request');
    assert.match(problem.detail, new RegExp(`"${Object.keys(body)[0]}" must be an integer from \\d+ to \\d+`));
  }
  // Nothing was started or recorded by the refused requests.
  assert.equal(JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout), []);
  const fork = await d.cli(['vm', 'fork', 'nosuch', '--count', 'two']);
  assert.match(fork.stderr, /^error: --count must be an integer from 1 to 1000; got "two" \[bad_request\]\n$/);
});

test('token create refuses a function that does not exist; no token is issued', async () => {
  const r = await d.cli(['token', 'create', '--scope', 'invoke', '--function', 'nosuch']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.is(r.stderr, 'error: no function named "nosuch": deploy it before creating a token for it [function_not_found]\n');
  const listed = JSON.parse((await d.cli(['token', 'ls', '--json'])).stdout) as Array<{ function: string | null }>;
  assert.not.ok(
    listed.some((t) => t.function === 'nosuch'),
    JSON.stringify(listed),
  );
  const ok = await d.cli(['token', 'create', '--scope', 'invoke', '--function', 'counter', '--json']);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(JSON.parse(ok.stdout).function, 'counter');
});

test('images names each golden snapshot after its function version', async () => {
  const [counter, echo] = [await goldenOf('counter'), await goldenOf('echo')];
  const r = await d.cli(['images']);
  assert.is(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n');
  assert.match(rows[0], /^ID\s+NAME\s+KIND/);
  const nameOf = (id: string) => rows.find((row) => row.startsWith(id))?.split(/\s+/)[1];
  assert.is(nameOf(counter.id), 'counter@v1', r.stdout);
  assert.is(nameOf(echo.id), 'echo@v1', r.stdout);
});

test('import --name of a snapshot already here adds the name as a tag, or refuses a taken name', async () => {
  const counter = await goldenOf('counter');
  const echo = await goldenOf('echo');
  const tar = path.join(work, 'counter.tar');
  assert.is((await d.cli(['export', counter.id, tar])).code, 0);

  const named = await d.cli(['import', tar, '--name', 'counter-base']);
  assert.is(named.code, 0, named.stderr);
  assert.is(named.stdout, `${counter.id} (already present; tagged "counter-base")\n`);
  const inspected = JSON.parse((await d.cli(['inspect', 'counter-base'])).stdout) as Snap;
  assert.is(inspected.id, counter.id);
  assert.ok(inspected.tags.includes('counter-base'), JSON.stringify(inspected.tags));

  assert.match((await d.cli(['images'])).stdout, new RegExp(`^${counter.id}\\s+counter-base\\s`, 'm'));

  const again = await d.cli(['import', tar, '--name', 'counter-base']);
  assert.is(again.code, 0, again.stderr);

  const tagged = await fetch(`${d.url}/v1/snapshots/${echo.id}/tags`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ tag: 'taken' }),
  });
  assert.is(tagged.status, 200);
  const taken = await d.cli(['import', tar, '--name', 'taken']);
  assert.is(taken.code, 1);
  assert.is(
    taken.stderr,
    `error: snapshot ${counter.id} is already here, and the name "taken" it was to get refers to snapshot ${echo.id} [registry_conflict]\n`,
  );
  assert.is(JSON.parse((await d.cli(['inspect', 'taken'])).stdout).id, echo.id);
});

test('vm exec --timeout says that the command timed out', async () => {
  const vm = await d.cli(['vm', 'run', '--name', 'timer']);
  assert.is(vm.code, 0, vm.stderr);
  try {
    const r = await d.cli(['vm', 'exec', 'timer', '--timeout', '500', '--', 'sh', '-c', 'echo started; sleep 30']);
    assert.is(r.code, 124);
    assert.is(r.stdout, 'started\n');
    assert.is(r.stderr, 'error: the command timed out after 0.5 s and was killed\n');
    const bad = await d.cli(['vm', 'exec', 'timer', '--timeout', 'soon', '--', 'true']);
    assert.is(bad.code, 1);
    assert.is(bad.stderr, 'error: --timeout must be an integer from 1 to 2147483647 (ms); got "soon" [bad_request]\n');
  } finally {
    await d.cli(['vm', 'rm', 'timer']);
  }
});

const ESC = '\x1b[';

/** The environment minus any colour preference of the caller's, plus `extra`. */
function colourEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', COLORTERM: 'truecolor' };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  // Node reports a terminal as two-colour when CI is set (tty getColorDepth), as on CI machines.
  delete env.CI;
  return { ...env, ...extra };
}

test('help and usage errors reaching a pipe carry no colour codes, whatever the terminal type', async () => {
  for (const args of [['--help'], ['vm', 'run', '--help'], ['no-such-command']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: colourEnv({}), encoding: 'utf8' });
    // Help goes to stdout; a usage error is one line on stderr.
    const out = r.stdout + r.stderr;
    assert.ok(out.length > 0, args.join(' '));
    assert.not.ok(out.includes(ESC), `${args.join(' ')}: ${JSON.stringify(out.slice(0, 80))}`);
  }
  const forced = spawnSync(process.execPath, [CLI, '--help'], { cwd: ROOT, env: colourEnv({ FORCE_COLOR: '1' }), encoding: 'utf8' });
  assert.ok(forced.stdout.includes(ESC), 'FORCE_COLOR=1 colours a pipe');
});

/** Runs the CLI on a pseudo-terminal (util-linux `script`); returns what the terminal showed. */
function onTty(args: string[], extra: Record<string, string>): string {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  return spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: colourEnv(extra), encoding: 'utf8' }).stdout;
}
const hasScript = spawnSync('script', ['--version']).status === 0;
skipUnless(hasScript ? null : lack('the script command (util-linux) is not installed', `apt-get install bsdutils && ${rerun()}`))(
  'help on a terminal is coloured, unless NO_COLOR is set',
  async () => {
    assert.ok(onTty(['--help'], {}).includes(ESC), 'colour on a terminal');
    const plain = onTty(['--help'], { NO_COLOR: '1' });
    assert.match(plain, /ignition <command>/);
    assert.not.ok(plain.includes(ESC), JSON.stringify(plain.slice(0, 80)));
  },
);

test('the daemon prints JSON lines only, on both streams, when its output is not a terminal', async () => {
  const own = await startTestDaemon({ env: { IGNITION_LOG_LEVEL: 'info' } });
  await own.stop();
  const lines = own.output().split('\n').filter(Boolean);
  assert.ok(lines.length >= 4, own.output());
  const records = lines.map((line) => {
    try {
      return JSON.parse(line) as { level: string; msg: string; url?: string };
    } catch {
      throw new assert.Assertion({ message: `not a JSON line: ${line}`, generated: false, operator: 'json', expects: 'JSON', actual: line });
    }
  });
  const banner = records.find((r) => r.msg.startsWith('Ignition daemon on '));
  assert.is(banner?.url, own.url);
  assert.ok(
    records.some((r) => r.msg === 'SIGTERM: draining and stopping…'),
    own.output(),
  );
});

test('--log-format text prints lines for a person, logs included', async () => {
  const own = await startTestDaemon({ env: { IGNITION_LOG_LEVEL: 'info' }, args: ['--log-format', 'text'] });
  await own.stop();
  const lines = own.output().split('\n').filter(Boolean);
  assert.ok(
    lines.some((l) => l.startsWith(`Ignition daemon on ${own.url} (driver: `)),
    own.output(),
  );
  assert.ok(
    lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  listening url=http:/.test(l)),
    own.output(),
  );
  assert.not.ok(
    lines.some((l) => l.startsWith('{')),
    own.output(),
  );
  const bad = await runCli(['daemon', '--log-format', 'yaml'], { env: { IGNITION_DATA_DIR: own.dataDir, IGNITION_LISTEN: '127.0.0.1:0' } });
  assert.is(bad.code, 1);
  assert.is(bad.stderr, 'error: --log-format must be "auto", "json" or "text"; got "yaml" [bad_request]\n');
});

test.run();
