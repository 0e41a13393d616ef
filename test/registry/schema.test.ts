import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getTableConfig } from 'drizzle-orm/sqlite-core';
import { openDatabase } from '../../platform/store/db.ts';
import { registryFiles, registryMigrations, registryPins, registryRemoteBlobs, registrySnapshots, registryTags } from '../../platform/registry/schema.ts';
import * as errors from '../../platform/registry/errors.ts';

test('the SQL migration creates exactly the columns the drizzle tables declare', () => {
  const store = openDatabase(':memory:', registryMigrations);
  try {
    for (const table of [registrySnapshots, registryTags, registryFiles, registryPins, registryRemoteBlobs]) {
      const cfg = getTableConfig(table);
      const info = store.sqlite.prepare(`PRAGMA table_info(${cfg.name})`).all() as Array<{ name: string; type: string; notnull: number }>;
      const sql = info.map((c) => `${c.name}:${c.type}:${c.notnull}`).sort();
      const declared = cfg.columns.map((c) => `${c.name}:${c.getSQLType().toUpperCase()}:${c.notNull ? 1 : 0}`).sort();
      assert.equal(sql, declared, cfg.name);
    }
  } finally {
    store.close();
  }
});

test('the migration is idempotent across reopen', () => {
  const store = openDatabase(':memory:', registryMigrations);
  assert.not.throws(() => openDatabase(':memory:', [...registryMigrations]).close());
  store.close();
});

test('every registry error code is prefixed registry_ and has a 4xx/5xx status', () => {
  const factories = Object.values(errors);
  assert.ok(factories.length >= 10);
  for (const f of factories) {
    assert.match(f.code, /^registry_[a-z_]+$/);
    assert.ok(f.status >= 400 && f.status < 600, f.code);
  }
});

test.run();
