/**
 * The token and secret commands as a user runs them, in-process through clipanion, against a real
 * HTTP server on 127.0.0.1 (ephemeral port) serving the real routes over temp SQLite and key
 * files; and the CLI's token lookup order. The guard is left out of this server because the API
 * client learns to send the token when the daemon wires auth (the guard has its own tests).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable, Writable } from 'node:stream';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Builtins, Cli } from 'clipanion';
import { serve, type ServerType } from '@hono/node-server';
import { TokenStore } from '../../platform/auth/tokens.ts';
import { authRoutes } from '../../platform/auth/routes.ts';
import { SecretStore } from '../../platform/secrets/store.ts';
import { secretRoutes } from '../../platform/secrets/routes.ts';
import { tokenCommands } from '../../platform/cli/commands/token.ts';
import { secretCommands } from '../../platform/cli/commands/secret.ts';
import { readToken } from '../../platform/cli/credentials.ts';
import type { IgnitionError } from '../../platform/errors.ts';
import { captureLogger, edgeApp, tempData, type TempData } from './support.ts';

let t: TempData;
let server: ServerType;
let tokens: TokenStore;
let secrets: SecretStore;
const savedHost = process.env.IGNITION_HOST;

test.before(async () => {
  t = tempData('ignition-cli-');
  tokens = new TokenStore(t.store);
  secrets = SecretStore.open(t.store, t.dir);
  const app = edgeApp(captureLogger().logger);
  app.route('/v1/tokens', authRoutes(tokens));
  app.route('/v1/secrets', secretRoutes(secrets, { exists: (fn) => fn === 'api', onChange() {} }));
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const addr = server.address() as { port: number };
  process.env.IGNITION_HOST = `http://127.0.0.1:${addr.port}`;
});
test.after(async () => {
  if (savedHost === undefined) delete process.env.IGNITION_HOST;
  else process.env.IGNITION_HOST = savedHost;
  await new Promise<void>((r) => server.close(() => r()));
  t.cleanup();
});

async function run(argv: string[], stdinText = '') {
  const cli = new Cli({ binaryName: 'ignition' });
  for (const c of [...tokenCommands, ...secretCommands]) cli.register(c);
  cli.register(Builtins.HelpCommand);
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  // BaseCommand reports failures on process.stderr and printJson writes to process.stdout.
  const realWrite = process.stderr.write.bind(process.stderr);
  const realOut = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  try {
    const code = await cli.run(argv, {
      stdin: Readable.from([Buffer.from(stdinText)]),
      stdout: sink((s) => (stdout += s)),
      stderr: sink((s) => (stderr += s)),
    });
    return { code, stdout, stderr };
  } finally {
    process.stderr.write = realWrite;
    process.stdout.write = realOut;
  }
}

test('token create prints the token once; ls shows it without; revoke marks it', async () => {
  const created = await run(['token', 'create', '--name', 'ci', '--scope', 'invoke', '--function', 'api']);
  assert.is(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^ign_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /only time the token is shown/);
  const rec = tokens.verify(token)!;
  assert.equal({ scope: rec.scope, fn: rec.function, name: rec.name }, { scope: 'invoke', fn: 'api', name: 'ci' });

  const ls = await run(['token', 'ls']);
  assert.is(ls.code, 0);
  assert.match(ls.stdout, /ID\s+NAME\s+SCOPE\s+FUNCTION\s+STATUS/);
  assert.match(ls.stdout, new RegExp(`${rec.id}\\s+ci\\s+invoke\\s+api\\s+active`));
  assert.not.ok(ls.stdout.includes(token));

  const revoke = await run(['token', 'revoke', rec.id]);
  assert.is(revoke.code, 0);
  assert.match(revoke.stdout, new RegExp(`Revoked ${rec.id} "ci"`));
  assert.is(tokens.verify(token), null);
  const json = JSON.parse((await run(['token', 'ls', '--json'])).stdout);
  assert.type(json[0].revokedAt, 'number');

  const bad = await run(['token', 'create', '--scope', 'root']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /scope must be "admin" or "invoke".*\[auth_invalid_request\]/);
});

test('secret set (argument and stdin), ls, rm', async () => {
  const set = await run(['secret', 'set', 'api', 'STRIPE_KEY', 'sk_test_1']);
  assert.is(set.code, 0, set.stderr);
  assert.is(set.stdout, 'Set STRIPE_KEY for api\n');
  const piped = await run(['secret', 'set', 'api', 'DB_PASSWORD', '--from-stdin'], 'pa ss\nword\n');
  assert.is(piped.code, 0, piped.stderr);
  const update = await run(['secret', 'set', 'api', 'STRIPE_KEY', 'sk_test_2']);
  assert.is(update.stdout, 'Updated STRIPE_KEY for api\n');
  assert.equal(secrets.resolve('api'), { DB_PASSWORD: 'pa ss\nword', STRIPE_KEY: 'sk_test_2' });

  const ls = await run(['secret', 'ls', 'api']);
  assert.match(ls.stdout, /NAME\s+CREATED\s+UPDATED\nDB_PASSWORD .*\nSTRIPE_KEY /);
  assert.not.ok(ls.stdout.includes('sk_test'));
  assert.equal(
    JSON.parse((await run(['secret', 'ls', 'api', '--json'])).stdout).map((s: { name: string }) => s.name),
    ['DB_PASSWORD', 'STRIPE_KEY'],
  );

  const rm = await run(['secret', 'rm', 'api', 'DB_PASSWORD']);
  assert.is(rm.stdout, 'Removed DB_PASSWORD from api\n');
  assert.equal(Object.keys(secrets.resolve('api')), ['STRIPE_KEY']);
});

test('secret errors are one line with the code; neither or both value sources is refused', async () => {
  const both = await run(['secret', 'set', 'api', 'A', 'v', '--from-stdin'], 'x');
  assert.is(both.code, 1);
  assert.match(both.stderr, /one of the two/);
  const neither = await run(['secret', 'set', 'api', 'A']);
  assert.is(neither.code, 1);
  const odd = await run(['secret', 'set', 'api', 'MY-KEY', 'v']);
  assert.match(odd.stderr, /^error: the secret name has "-" at position 3.*\[secret_invalid_name\]\n$/);
  const unknown = await run(['secret', 'ls', 'nope']);
  assert.match(unknown.stderr, /no function named "nope" \[function_not_found\]/);
  const rotated = await run(['secret', 'rotate-key']);
  assert.match(rotated.stdout, /^Re-encrypted 1 secret; new key [0-9a-f]{16}\n$/);
});

test('readToken: IGNITION_TOKEN, then $IGNITION_DATA_DIR/admin.token, then ./.ignition/admin.token', () => {
  const cwd = path.join(t.dir, 'project');
  mkdirSync(path.join(cwd, '.ignition'), { recursive: true });
  mkdirSync(path.join(t.dir, 'data'));
  writeFileSync(path.join(cwd, '.ignition', 'admin.token'), 'ign_local\n', { mode: 0o600 });
  writeFileSync(path.join(t.dir, 'data', 'admin.token'), 'ign_datadir\n', { mode: 0o600 });
  const token = (env: NodeJS.ProcessEnv, dir = cwd, uid?: number) => readToken(env, dir, uid).token;
  assert.is(token({ IGNITION_TOKEN: ' ign_env ' }), 'ign_env');
  assert.is(token({ IGNITION_DATA_DIR: path.join(t.dir, 'data') }), 'ign_datadir');
  assert.is(token({ IGNITION_DATA_DIR: '../data' }), 'ign_datadir', 'relative to the working directory');
  assert.is(token({}), 'ign_local');
  assert.is(token({ IGNITION_TOKEN: '' }), 'ign_local');
  assert.is(token({ HOME: path.join(t.dir, 'home') }, t.dir, 1000), undefined, 'nothing in the default place');
  // An explicit data dir is not second-guessed, and the lookup says where it looked.
  assert.equal(readToken({ IGNITION_DATA_DIR: path.join(t.dir, 'empty') }, cwd), {
    token: undefined,
    file: path.join(t.dir, 'empty', 'admin.token'),
    named: true,
    notice: undefined,
  });
});

test.run();
