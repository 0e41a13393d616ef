/**
 * No platform credential reaches function code. The daemon drops an Authorization header that
 * carries an Ignition token (`ign_…`) before forwarding, whatever the function's `auth` setting,
 * while a function's own scheme (a JWT, Basic) passes through to public functions. The CLI never
 * sends its admin token on /fn (checked against a recording server, so the daemon's own stripping
 * cannot hide it) and sends a token there only when given `--token`. A CLI that finds no admin
 * token says where it looked; one run beside an old `./.ignition` still finds the token there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, runCli, sharedDaemon, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { rerun } from '../support/needs.ts';
import { defaultDataDir } from '../../platform/config/load.ts';

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

async function seenByEcho(authorization: string): Promise<string | undefined> {
  const r = await request(`${d.url}/fn/echo/`, { headers: { authorization } });
  assert.is(r.statusCode, 200);
  return ((await r.body.json()) as { headers: Record<string, string> }).headers.authorization;
}

test('an Ignition token never reaches a public function; its own schemes do', async () => {
  const admin = d.auth().authorization;
  assert.is(await seenByEcho(admin), undefined, 'the admin token is dropped');
  assert.is(await seenByEcho(`Bearer ign_${'A'.repeat(43)}`), undefined, 'any ign_ token, valid or not');
  assert.is(await seenByEcho(`bearer   ign_${'b'.repeat(43)}`), undefined, 'whatever the scheme spelling');
  for (const own of ['Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig', 'Basic dXNlcjpwYXNz', 'Bearer campaign_2024']) {
    assert.is(await seenByEcho(own), own, own);
  }
});

test('ignition invoke against a token-protected function: --token, and a clear 401 without', async () => {
  const dir = tempDir('ign-cred-');
  cpSync(path.join(FIXTURES, 'echo'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'ignition.json'), JSON.stringify({ auth: 'token' }));
  await deploy(d, dir, ['--name', 'guarded']);
  const inv = JSON.parse((await d.cli(['token', 'create', '--scope', 'invoke', '--function', 'guarded', '--json'])).stdout) as { token: string };
  const ok = await d.cli(['invoke', 'guarded', '--token', inv.token]);
  assert.is(ok.code, 0, ok.stderr);
  assert.is((JSON.parse(ok.stdout) as { headers: Record<string, string> }).headers.authorization, undefined);
  const without = await d.cli(['invoke', 'guarded']);
  assert.is(without.code, 1);
  assert.match(without.stderr, /^error: .*--token.*\[unauthorized\]\n$/);
});

test('the CLI sends its admin token to /v1 only, and a --token to /fn', async () => {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers });
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(req.url!.startsWith('/v1/') ? '{"functions":[]}' : '{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const env = { IGNITION_HOST: host, IGNITION_TOKEN: `ign_${'T'.repeat(43)}` };
    for (const args of [['ls'], ['invoke', 'anything', '--path', '/x'], ['invoke', 'anything', '--token', 'mine']]) {
      const r = await runCli(args, { env });
      assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.is(seen.length, 3);
    assert.is(seen[0].headers.authorization, `Bearer ign_${'T'.repeat(43)}`, 'the admin API gets the token');
    assert.is(seen[1].url, '/fn/anything/x');
    assert.is(seen[1].headers.authorization, undefined, 'a function gets no admin token');
    assert.is(seen[2].headers.authorization, 'Bearer mine');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

/** The CLI as a user on this host runs it: no IGNITION_HOST, IGNITION_DATA_DIR or IGNITION_TOKEN (tests add the daemon's URL). */
const bare = { IGNITION_HOST: '', IGNITION_DATA_DIR: '', IGNITION_TOKEN: '' };
const defaultToken = path.join(defaultDataDir(), 'admin.token');

skipUnless(existsSync(defaultToken) ? lack(`this host has a token in the default place, ${defaultToken}`, `on a host without one: ${rerun()}`) : null)(
  'without a token the CLI names the file it tried and how to fix it, in one line',
  async () => {
    // A daemon that refuses the request: the CLI then says where it looked for a token.
    const r = await runCli(['ls'], { cwd: tempDir('ign-nowhere-'), env: { ...bare, IGNITION_HOST: d.url } });
    assert.is(r.code, 1);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^error: no admin token: [^\n]*\[cli_token_missing\]\n$/);
    assert.ok(r.stderr.includes(`IGNITION_TOKEN is not set and ${defaultToken} cannot be read`), r.stderr);
    assert.ok(r.stderr.includes('set IGNITION_DATA_DIR to the data directory the daemon printed'), r.stderr);
    const empty = tempDir('ign-empty-data-');
    const named = await runCli(['ls'], { cwd: empty, env: { ...bare, IGNITION_HOST: d.url, IGNITION_DATA_DIR: empty } });
    assert.is(named.code, 1);
    assert.ok(named.stderr.includes(`${path.join(empty, 'admin.token')} (IGNITION_DATA_DIR) cannot be read`), named.stderr);
    // A public function needs no token at all.
    const inv = await runCli(['invoke', 'echo'], { cwd: empty, env: { ...bare, IGNITION_HOST: d.url, IGNITION_DATA_DIR: empty } });
    assert.is(inv.code, 0, inv.stderr);
  },
);

test('a daemon and a CLI beside an old ./.ignition both keep using it, with a notice', async () => {
  const project = tempDir('ign-old-project-');
  const old = path.join(project, '.ignition');
  // What an earlier daemon left: a data directory it used, named by nothing but its place.
  await (await startTestDaemon({ dataDir: old })).stop();
  mkdirSync(path.join(project, 'sub'));
  writeFileSync(path.join(project, 'ignition.config.ts'), 'export default {};\n');
  const d = await startTestDaemon({ env: { IGNITION_DATA_DIR: '' }, args: ['--config', path.join(project, 'ignition.config.ts')] });
  try {
    assert.match(d.output(), `data: ${old})`);
    assert.match(d.output(), `notice: using ${old}, the old default data directory`);
    const ls = await runCli(['ls', '--json'], { cwd: project, env: { ...bare, IGNITION_HOST: d.url } });
    assert.is(ls.code, 0, ls.stderr);
    assert.match(ls.stderr, /^notice: using .*, the old default data directory .*\n$/);
  } finally {
    await d.stop();
  }
});

test.run();
