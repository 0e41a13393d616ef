/**
 * An operator's extra CAs reach functions with network on the process driver: the daemon's
 * IGNITION_FUNCTION_CA_CERTS (else its own NODE_EXTRA_CA_CERTS) is bound read-only into the
 * sandbox and named by NODE_EXTRA_CA_CERTS there, so TLS to a server whose chain ends in that CA
 * succeeds where it failed with SELF_SIGNED_CERT_IN_CHAIN.
 *
 * The CA and the server's certificate are made here with openssl. The handshake runs inside a
 * network namespace this test creates (`unshare --net`), daemon and all, so nothing of it is on
 * the host's network: the function serves TLS on the namespace's loopback and connects to it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { CLI, daemonEnv, daemonOutput, deploy, ROOT, startTestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';
import { missing, rerun } from '../support/needs.ts';
import { lack, skipUnless, type Lack } from '../support/skip.ts';

const onPath = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const noOpenssl: Lack | null = onPath('openssl') ? null : lack('needs openssl to make a CA', `apt-get install -y openssl && ${rerun()}`);

/** A CA, and a server certificate for 127.0.0.1 signed by it (served with the CA in its chain). */
function makeCa(dir: string): { ca: string; key: string; chain: string } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Ignition test CA');
  ssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext');
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  return { ca: path.join(dir, 'ca.pem'), key: read('leaf.key'), chain: read('leaf.pem') + read('ca.pem') };
}

/** Reports what the function sees of the variable and the file it names. */
const SEES = `import { readFileSync } from 'node:fs';
export default { fetch() {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  let pem = null;
  try { pem = file ? readFileSync(file, 'utf8') : null; } catch (e) { pem = e.code; }
  return Response.json({ file: file ?? null, pem });
} };
`;

/** Serves TLS on its own loopback with the certificate it is given, and connects to it without naming a CA. */
const HANDSHAKE = `import https from 'node:https';
export default { async fetch(request, env) {
  const server = https.createServer({ key: env.TLS_KEY, cert: env.TLS_CHAIN }, (q, r) => r.end('trusted'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const result = await new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', (e) => resolve(e.code));
  });
  server.close();
  return new Response(result);
} };
`;

function fnDir(source: string, settings: Record<string, unknown>): string {
  const dir = tempDir('ign-ca-fn-');
  writeFileSync(path.join(dir, 'index.mjs'), source);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fn', type: 'module', main: 'index.mjs', ignition: settings }));
  return dir;
}

skipUnless(missing('bwrap') ?? noOpenssl)('a function with network sees NODE_EXTRA_CA_CERTS and reads the CA file; one without gets neither', async () => {
  const { ca } = makeCa(tempDir('ign-ca-'));
  const d = await startTestDaemon({ env: { IGNITION_DRIVER: 'process', IGNITION_FUNCTION_CA_CERTS: ca } });
  try {
    await deploy(d, fnDir(SEES, { network: true }), ['--name', 'with-net']);
    await deploy(d, fnDir(SEES, { network: false }), ['--name', 'without-net']);
    const seen = async (name: string) => (await (await request(`${d.url}/fn/${name}/`)).body.json()) as { file: string | null; pem: string | null };
    assert.equal(await seen('with-net'), { file: '/etc/ignition/extra-ca-certs.pem', pem: readFileSync(ca, 'utf8') });
    assert.equal(await seen('without-net'), { file: null, pem: null });
  } finally {
    await d.stop();
  }
});

test('a CA file named by IGNITION_FUNCTION_CA_CERTS that cannot be read stops the daemon, saying why', async () => {
  const nowhere = path.join(tempDir('ign-ca-missing-'), 'ca.pem');
  const err = await startTestDaemon({ env: { IGNITION_DRIVER: 'process', IGNITION_FUNCTION_CA_CERTS: nowhere } }).then(
    async (d) => {
      await d.stop();
      return null;
    },
    (e: Error) => e,
  );
  assert.ok(err, 'the daemon started');
  assert.match(err!.message, `IGNITION_FUNCTION_CA_CERTS: ${nowhere} cannot be read (ENOENT)`);
});

const netnsLack: Lack | null =
  missing('root', 'bwrap') ??
  noOpenssl ??
  (onPath('unshare') ? null : lack('needs unshare to make a network namespace', `apt-get install -y util-linux && ${rerun(true)}`));

/** A daemon in a network namespace of its own, with only a loopback device; the CLI reaches it through nsenter. */
async function daemonInNetns(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; cli(args: string[]): string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ign-ca-netns-'));
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', `ip link set lo up && exec "$0" "$@"`, process.execPath, CLI, 'daemon'], {
    cwd: ROOT,
    env: daemonEnv(dataDir, { IGNITION_DRIVER: 'process', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = daemonOutput(child);
  const url = await started.url;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    url,
    cli: (args) =>
      execFileSync('nsenter', [`--net=/proc/${child.pid}/ns/net`, '--', process.execPath, CLI, ...args], {
        encoding: 'utf8',
        env: { ...process.env, IGNITION_HOST: url, IGNITION_DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    async stop() {
      // unshare execs sh, which execs the daemon: child.pid is the daemon's.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

skipUnless(netnsLack)('TLS from a function with network trusts the CA (inside a network namespace of its own)', async () => {
  const made = makeCa(tempDir('ign-ca-'));
  const fn = fnDir(HANDSHAKE, { network: true });
  const envArgs = ['--env', `TLS_KEY=${made.key}`, '--env', `TLS_CHAIN=${made.chain}`];
  // Without the CA the handshake fails as the issue reported (the daemon's own NODE_EXTRA_CA_CERTS
  // is cleared so that the host's trust does not leak into the baseline).
  const without = await daemonInNetns({ NODE_EXTRA_CA_CERTS: '' });
  try {
    without.cli(['deploy', fn, '--name', 'tls', ...envArgs]);
    assert.is(without.cli(['invoke', 'tls']).trim(), 'SELF_SIGNED_CERT_IN_CHAIN');
  } finally {
    await without.stop();
  }
  const withCa = await daemonInNetns({ IGNITION_FUNCTION_CA_CERTS: made.ca });
  try {
    withCa.cli(['deploy', fn, '--name', 'tls', ...envArgs]);
    assert.is(withCa.cli(['invoke', 'tls']).trim(), 'trusted');
  } finally {
    await withCa.stop();
  }
});

test.run();
