/** Function names, settings validation and configuration loading (file, defaults, environment). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { assertEnvName, assertFunctionName } from '../../platform/functions/names.ts';
import { loadConfig } from '../../platform/config/load.ts';
import { validateFunctionSettings } from '../../platform/config/schema.ts';
import { IgnitionError } from '../../platform/errors.ts';
import { tempDir } from '../support/tmp.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as IgnitionError).code;
  }
  return 'none';
};

test('function names are DNS labels', () => {
  for (const ok of ['a', 'hello', 'my-fn-2', 'x'.repeat(63)]) assert.is(assertFunctionName(ok), ok);
  for (const bad of ['', 'a/b', '..', 'a..b', 'a\0b', 'x'.repeat(64), '-a', 'a-', 'A', 'a_b', 'a b'])
    assert.is(
      code(() => assertFunctionName(bad)),
      'invalid_name',
      JSON.stringify(bad),
    );
  assert.is(
    code(() => assertEnvName('1X')),
    'invalid_name',
  );
  assert.is(assertEnvName('API_KEY'), 'API_KEY');
});

test('settings are validated key by key', () => {
  assert.equal(validateFunctionSettings({ timeoutMs: 100, isolation: 'fresh' }, 't'), { timeoutMs: 100, isolation: 'fresh' });
  try {
    validateFunctionSettings({ timeoutMs: 0, isolation: 'shared', nope: true }, 'x.json');
    assert.unreachable();
  } catch (err) {
    const e = err as IgnitionError;
    assert.is(e.code, 'config_invalid');
    assert.match(e.message, /timeoutMs must be an integer/);
    assert.match(e.message, /isolation must be one of "reuse", "fresh"/);
    assert.match(e.message, /nope is not a known setting/);
  }
});

test('config: file over defaults, environment over file, data dir resolved', async () => {
  const dir = tempDir('ign-cfg-');
  writeFileSync(
    path.join(dir, 'ignition.config.ts'),
    `export default { listen: '127.0.0.1:9000', functions: { timeoutMs: 1234 } } satisfies Record<string, unknown>;`,
  );
  const { config, file } = await loadConfig({ cwd: dir, env: { IGNITION_DATA_DIR: 'data', IGNITION_DRIVER: 'process' } });
  assert.is(file, path.join(dir, 'ignition.config.ts'));
  assert.is(config.listen, '127.0.0.1:9000');
  assert.is(config.functions.timeoutMs, 1234);
  assert.is(config.functions.concurrency, 32, 'unset keys keep defaults');
  assert.is(config.driver, 'process');
  assert.is(config.dataDir, path.join(dir, 'data'));
  assert.is(config.processSpares, 1, 'one spare sandbox by default');
  const over = await loadConfig({ cwd: dir, env: { IGNITION_LISTEN: '0.0.0.0:1', IGNITION_FIRECRACKER_DIFF_SNAPSHOTS: 'off', IGNITION_PROCESS_SPARES: '0' } });
  assert.is(over.config.listen, '0.0.0.0:1');
  assert.is(over.config.firecracker.diffSnapshots, 'off');
  assert.is(over.config.processSpares, 0);
});

test('config: every bad key is named', async () => {
  const dir = tempDir('ign-cfg-');
  writeFileSync(
    path.join(dir, 'ignition.config.ts'),
    `export default { listen: 'nowhere', driver: 'qemu', processSpares: 100, functions: { minWarm: -1 }, firecracker: { diffSnapshots: 'sometimes' } };`,
  );
  try {
    await loadConfig({ cwd: dir, env: {} });
    assert.unreachable();
  } catch (err) {
    const e = err as IgnitionError;
    assert.is(e.code, 'config_invalid');
    assert.match(e.message, /listen must be "host:port"/);
    assert.match(e.message, /driver must be one of/);
    assert.match(e.message, /processSpares must be an integer from 0 to 64/);
    assert.match(e.message, /functions\.minWarm must be an integer from 0/);
    assert.match(e.message, /firecracker\.diffSnapshots must be "auto", "on" or "off"/);
  }
});

test('config: a file that does not compile says where', async () => {
  const dir = tempDir('ign-cfg-');
  writeFileSync(path.join(dir, 'ignition.config.ts'), `export default { listen: `);
  try {
    await loadConfig({ cwd: dir, env: {} });
    assert.unreachable();
  } catch (err) {
    assert.is((err as IgnitionError).code, 'config_invalid');
    assert.match((err as Error).message, /ignition\.config\.ts:1:\d+/);
  }
  const missing = await loadConfig({ cwd: dir, env: { IGNITION_CONFIG: 'nope.ts' } }).catch((e: IgnitionError) => e.code);
  assert.is(missing, 'config_invalid');
});

test.run();
