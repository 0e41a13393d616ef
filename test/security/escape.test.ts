/**
 * The escape suite: a hostile function (test/fixtures/functions/attacker) tries each way out of
 * the process driver's sandbox that an attacker would, against a real daemon, and every attempt
 * must fail. docs/SECURITY.md lists the layer that stops each one.
 *
 * It runs as root against a root daemon (the README's quickstart and CI), and again against a
 * daemon started as an ordinary user (uid 65534) where this host allows it. Limits that need a
 * cgroup (memory, processes) cannot be delegated to an ordinary user on a cgroup v1 host: there
 * the rootless run registers them as skipped, with the reason, instead of asserting them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { CLI, daemonOutput, FIXTURES, ROOT, runCli } from '../support/daemon.ts';
import { missing, rerun } from '../support/needs.ts';
import { lack, skipUnless, type Lack } from '../support/skip.ts';
import { deepChildPids } from '../../platform/vmm/process/procfs.ts';

const ATTACKER = path.join(FIXTURES, 'attacker');
const skip = missing('root', 'bwrap');

interface Daemon {
  url: string;
  dataDir: string;
  port: number;
  info: { driver: { isolation?: { limits: Record<string, boolean> } } };
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** A daemon as `uid` (undefined: as this process, root), on a fresh data dir owned by that uid. */
async function startDaemon(uid: number | undefined): Promise<Daemon> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ignition-escape-'));
  if (uid !== undefined) chownSync(dataDir, uid, uid);
  const child = spawn(process.execPath, [CLI, 'daemon'], {
    cwd: '/',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dataDir,
      IGNITION_DATA_DIR: dataDir,
      IGNITION_LISTEN: '127.0.0.1:0',
      IGNITION_LOG_LEVEL: 'warn',
      IGNITION_NETWORK: 'off',
      IGNITION_CONFIG: path.join(ROOT, 'ignition.config.ts'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid,
    gid: uid,
  });
  const started = daemonOutput(child);
  const url = await started.url;
  const env = { IGNITION_HOST: url, IGNITION_DATA_DIR: dataDir };
  const cli = (args: string[]) => runCli(args, { env });
  const info = JSON.parse((await cli(['info', '--json'])).stdout);
  return {
    url,
    dataDir,
    port: Number(new URL(url).port),
    info,
    cli,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function probe(d: Daemon, fn: string, route: string): Promise<{ status: number; body: any }> {
  const res = await request(`${d.url}/fn/${fn}${route}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: res.statusCode, body };
}

/** Host pids of a function's agents: the machines table names each sandbox's outermost process. */
function agentPids(d: Daemon, fn: string): number[] {
  const db = new Database(path.join(d.dataDir, 'ignition.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT pid FROM machines WHERE function = ? AND pid IS NOT NULL AND state = 'running'").all(fn) as Array<{ pid: number }>;
    return rows.flatMap((r) => [r.pid, ...deepChildPids(r.pid)]).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent.mjs'));
  } catch {
    return [];
  } finally {
    db.close();
  }
}

function statusField(status: string, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
}

/** Registers the suite against a daemon as `uid`; `why` registers all of it as skipped. */
async function suite(label: string, uid: number | undefined, why: Lack | null) {
  let d!: Daemon;
  const t = (name: string, fn: () => Promise<void>, unless: Lack | null = why) => skipUnless(unless)(`${label}: ${name}`, fn);
  // The daemon starts while the tests are registered, not in a hook: the limits it reports
  // decide whether the memory and process-limit tests run or are registered as skipped.
  if (!why) {
    try {
      d = await startDaemon(uid);
    } catch (err) {
      test(`${label}: the daemon starts`, () => {
        throw err;
      });
      return;
    }
    test.before(async () => {
      for (const name of ['attacker', 'twin']) {
        const r = await d.cli(['deploy', ATTACKER, '--name', name, '--json']);
        assert.is(r.code, 0, r.stderr);
      }
    });
    test.after(async () => {
      await d.stop();
    });
  }
  const limits = d?.info.driver.isolation?.limits ?? {};
  // A root daemon can always make its cgroups (v1 or v2): its tests assert the limits instead.
  const rootless = (what: string): Lack =>
    lack(
      `${what} for this daemon (an ordinary user on cgroup v1); the root daemon's run covers it`,
      `on a cgroup v2 host, in a delegated scope: systemd-run --scope -p Delegate=yes ${rerun()}`,
    );
  const memoryLack = why ?? (uid === undefined || limits.memory ? null : rootless('no memory cgroup'));
  const processLack = why ?? (uid === undefined || limits.pids || limits.processes ? null : rootless('neither a pids cgroup nor RLIMIT_NPROC per sandbox'));

  t('the function runs as an unprivileged uid with no capabilities, no_new_privs and seccomp', async () => {
    const { body } = await probe(d, 'attacker', '/status');
    const status = body.status as string;
    assert.is(statusField(status, 'CapEff'), '0000000000000000');
    assert.is(statusField(status, 'CapPrm'), '0000000000000000');
    assert.is(statusField(status, 'CapBnd'), '0000000000000000');
    assert.is(statusField(status, 'NoNewPrivs'), '1');
    assert.is(statusField(status, 'Seccomp'), '2', 'a seccomp filter is loaded');
    const pids = agentPids(d, 'attacker');
    assert.ok(pids.length > 0, 'the agent is found on the host');
    for (const pid of pids) {
      const hostUid = statusField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'Uid').split(/\s+/);
      assert.ok(
        hostUid.every((u) => u !== '0'),
        `agent ${pid} runs as host uid ${hostUid.join(' ')}`,
      );
    }
    assert.not.ok(
      (body.env as string[]).some((k) => /TOKEN|IGNITION_DATA_DIR/.test(k)),
      'no daemon credentials in its environment',
    );
  });

  t('a remount of /usr fails and nothing appears on the host', async () => {
    // A name of this run's own: a file an escape left earlier must not fail (or pass) this one.
    const file = `/usr/ignition-escape-${process.pid}-${Date.now()}`;
    const { body } = await probe(d, 'attacker', `/remount?file=${encodeURIComponent(file)}`);
    assert.is(body.remount.ok, false);
    assert.is(body.touch.ok, false);
    const escaped = existsSync(file);
    rmSync(file, { force: true });
    assert.is(escaped, false, `${file} appeared on the host`);
  });

  t('open_by_handle_at (shocker) cannot open the host root', async () => {
    const { body } = await probe(d, 'attacker', '/shocker');
    assert.is(body.ok, false, `shocker: ${JSON.stringify(body)}`);
  });

  t("the data directory, the admin token and the host's /etc/shadow are out of reach", async () => {
    for (const file of [
      path.join(d.dataDir, 'admin.token'),
      path.join(d.dataDir, 'secrets.key'),
      path.join(d.dataDir, 'ignition.db'),
      '/etc/shadow',
      '/root/.bash_history',
    ]) {
      const { body } = await probe(d, 'attacker', `/read?path=${encodeURIComponent(file)}`);
      assert.is(body.ok, false, `${file} was readable`);
    }
    const { body } = await probe(d, 'attacker', '/core-pattern');
    assert.is(body.ok, false, 'core_pattern is not writable');
    // Nor can a local user list them: the data directory and machines/ may be passed through
    // (a root daemon's sandboxes must reach their workspaces), never read; the registry is private.
    for (const dir of [d.dataDir, path.join(d.dataDir, 'machines')]) assert.is(statSync(dir).mode & 0o066, 0, `${dir} is readable by others`);
    assert.is(statSync(path.join(d.dataDir, 'registry')).mode & 0o077, 0, 'the registry is private');
  });

  t('a function cannot change its bundle, its twin with the same code, or its next instance', async () => {
    const { body } = await probe(d, 'attacker', '/bundle');
    assert.ok(body.file, 'the bundle path is known to the function');
    for (const k of ['write', 'chmod', 'append']) assert.is(body[k].ok, false, `${k} of the bundle succeeded`);
    assert.is((await probe(d, 'twin', '/')).body, 'original code');
    assert.is((await probe(d, 'attacker', '/')).body, 'original code');
    const verify = await d.cli(['verify', '--json']);
    assert.is(verify.code, 0, `the registry's blobs are intact: ${verify.stdout}${verify.stderr}`);
  });

  t('the daemon port and other sandboxes are out of reach', async () => {
    const { body } = await probe(d, 'attacker', `/connect?port=${d.port}`);
    assert.is(body.ok, false, 'the daemon port was reachable');
    const twins = agentPids(d, 'twin');
    assert.ok(twins.length > 0);
    const kill = await probe(d, 'attacker', `/kill?pids=${twins.join(',')}`);
    for (const r of kill.body.each) assert.is(r.ok, false);
    assert.is((await probe(d, 'twin', '/')).body, 'original code', 'the twin still serves');
    for (const pid of twins) assert.ok(existsSync(`/proc/${pid}`), `twin agent ${pid} survived`);
  });

  t('/tmp, the code directory and the root are capped or read-only', async () => {
    const tmp = (await probe(d, 'attacker', '/fill?path=/tmp/fill&mib=200')).body;
    assert.ok(tmp.written <= 64, `wrote ${tmp.written} MiB into /tmp`);
    assert.is(tmp.error, 'ENOSPC');
    for (const p of ['/var/task/fill', '/fill', '/dev/shm/fill', '/opt/ignition/fill']) {
      const r = (await probe(d, 'attacker', `/fill?path=${encodeURIComponent(p)}&mib=1`)).body;
      assert.is(r.written, 0, `${p} was writable`);
    }
  });

  t('open files are capped', async () => {
    const { body } = await probe(d, 'attacker', '/fds?n=20000');
    assert.ok(body.opened < 4096, `opened ${body.opened}`);
    assert.is(body.error, 'EMFILE');
  });

  t(
    'memory past the limit ends the instance with function_out_of_memory, logged with the invocation id',
    async () => {
      // A root daemon can always make its cgroups (v1 or v2): there the limit must hold.
      if (uid === undefined) assert.ok(limits.memory, 'the memory limit is in force for a root daemon');
      const res = await request(`${d.url}/fn/attacker/memory?mib=600`, { headersTimeout: 60_000 });
      const body = (await res.body.json()) as { code: string; detail: string; limitMiB: number };
      assert.is(res.statusCode, 502);
      assert.is(body.code, 'function_out_of_memory');
      assert.match(body.detail, /128 MiB/);
      const id = res.headers['x-request-id'] as string;
      const logs = await d.cli(['logs', 'attacker', '--invocation', id, '--json']);
      assert.match(logs.stdout, /memory limit of 128 MiB/);
      assert.is((await probe(d, 'attacker', '/')).body, 'original code', 'a new instance serves');
    },
    memoryLack,
  );

  t(
    'a fork bomb stops at the process limit and the host is fine',
    async () => {
      if (uid === undefined) assert.ok(limits.pids, 'the process limit is in force for a root daemon');
      const { body } = await probe(d, 'attacker', '/fork?n=300');
      assert.ok(body.started < 128, `started ${body.started} processes`);
      const health = await request(`${d.url}/healthz`);
      assert.is(health.statusCode, 200);
      await health.body.dump();
    },
    processLack,
  );
}

await suite('root daemon', undefined, skip);
await suite('daemon as uid 65534', 65534, skip ?? rootlessSkip());

/** Why a daemon cannot run as uid 65534 here: it must reach the checkout (dist/, node_modules). */
function rootlessSkip(): Lack | null {
  for (let dir = ROOT; dir !== '/'; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      return lack(
        `the checkout's folder ${dir} is not searchable by other users, so a daemon as uid 65534 cannot reach dist/ and node_modules`,
        `git clone . /srv/ignition && cd /srv/ignition && npm install && ${rerun()}`,
      );
    }
  }
  return null;
}

test.run();
