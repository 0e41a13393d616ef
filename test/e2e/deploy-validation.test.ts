/**
 * Deploy input that would reach a machine's environment or a name space is checked before
 * anything is built: `env` keys and values as strictly as secrets (no NUL, POSIX names, bounded
 * sizes), alias names as strictly as function names. The API answers 400 problems with stable
 * codes; the CLI prints one `error: … [code]` line and exits 1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { request } from 'undici';
import { FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after(async () => {
  await d?.stop();
});

const CODE = 'export default { fetch: () => new Response("ok") };';

async function deployBody(body: Record<string, unknown>) {
  const r = await request(`${d.url}/v1/functions/val/deployments`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ code: CODE, ...body }),
  });
  return { status: r.statusCode, type: r.headers['content-type'], problem: (await r.body.json()) as { code: string; detail: string } };
}

test('the API refuses bad env and alias names with 400 problems', async () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ env: { A: 'x\0y' } }, 'env_invalid', /NUL/],
    [{ env: { A: 1 } }, 'env_invalid', /string/],
    [{ env: { A: 'x'.repeat(64 * 1024 + 1) } }, 'env_invalid', /65537 bytes.*65536/],
    [{ env: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`K${i}`, 'x'.repeat(60 * 1024)])) }, 'env_invalid', /in all.*262144/],
    [{ env: { 'BAD-KEY': 'x' } }, 'invalid_name', /BAD-KEY/],
    [{ env: { ['K'.repeat(129)]: 'x' } }, 'invalid_name', /128/],
    [{ alias: '../x' }, 'invalid_name', /alias name/],
    [{ alias: 'a/b' }, 'invalid_name', /alias name/],
    [{ alias: '' }, 'invalid_name', /alias name/],
    [{ alias: 7 }, 'invalid_name', /alias name/],
  ];
  for (const [body, code, detail] of cases) {
    const r = await deployBody(body);
    const label = JSON.stringify(body).slice(0, 60);
    assert.is(r.status, 400, label);
    assert.is(r.type, 'application/problem+json', label);
    assert.is(r.problem.code, code, label);
    assert.match(r.problem.detail, detail, label);
  }
  const ls = await request(`${d.url}/v1/functions`, { headers: d.auth() });
  assert.equal(((await ls.body.json()) as { functions: unknown[] }).functions, [], 'nothing was deployed');
});

test('the CLI prints one error line with the code', async () => {
  const echo = path.join(FIXTURES, 'echo');
  for (const [args, code] of [
    [['--env', 'BAD-KEY=x'], 'invalid_name'],
    [['--env', `BIG=${'x'.repeat(70 * 1024)}`], 'env_invalid'],
    [['--alias', '../x'], 'invalid_name'],
  ] as const) {
    const r = await d.cli(['deploy', echo, ...args]);
    const label = args.join(' ').slice(0, 40);
    assert.is(r.code, 1, label);
    // Progress lines come first when stderr is not a terminal; the error is the one last line.
    assert.match(r.stderr, new RegExp(`(^|\\n)error: [^\\n]+ \\[${code}\\]\\n$`), label);
    assert.is(r.stderr.match(/^error: /gm)?.length, 1);
  }
});

test.run();
