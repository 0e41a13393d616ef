/**
 * One data-access convention for every table: each capability declares its tables as drizzle
 * tables in `platform/<capability>/schema.ts`, next to the SQL migrations that create them. This
 * file opens real SQLite files with the daemon's migration list (platform/store/migrations.ts)
 * and checks that the two declarations agree for every table, and that no table exists in SQL
 * alone. It also upgrades a database made before `vmm-001` (platform/vmm/schema.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type Database from 'better-sqlite3';
import { is } from 'drizzle-orm';
import { getTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { openDatabase } from '../../platform/store/db.ts';
import { platformMigrations } from '../../platform/store/migrations.ts';
import { machinesTable, vmmMigrations } from '../../platform/vmm/schema.ts';
import { MachineRecords } from '../../platform/vmm/records.ts';
import { tempDir } from '../support/tmp.ts';

const platformDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../platform');

/** Every drizzle table exported by a `platform/<capability>/schema.ts`, with its capability. */
async function drizzleTables(): Promise<Array<{ capability: string; table: SQLiteTable }>> {
  const found: Array<{ capability: string; table: SQLiteTable }> = [];
  for (const capability of readdirSync(platformDir).sort()) {
    const file = path.join(platformDir, capability, 'schema.ts');
    if (!existsSync(file)) continue;
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const value of Object.values(mod)) if (is(value, SQLiteTable)) found.push({ capability, table: value });
  }
  return found;
}

const tables = await drizzleTables();

/** Tables in the database, other than the migration runner's own and SQLite's internals. */
function sqlTables(sqlite: Database.Database): string[] {
  return sqlite
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> '_migrations' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all() as string[];
}

/**
 * Each column as `name:TYPE:notnull:pk`. A primary-key column counts as not null on both sides:
 * drizzle marks every primary-key column not null, while SQLite reports a primary key declared
 * without NOT NULL as nullable (its legacy rule for keys other than INTEGER PRIMARY KEY). Several
 * released migrations declare keys that way and are never edited, so for those columns the
 * primary-key membership is what is compared.
 */
function sqlColumns(sqlite: Database.Database, table: string): string[] {
  const info = sqlite.prepare(`PRAGMA table_info(${JSON.stringify(table)})`).all() as Array<{ name: string; type: string; notnull: number; pk: number }>;
  return info.map((c) => `${c.name}:${c.type}:${c.notnull || c.pk ? 1 : 0}:${c.pk ? 'pk' : ''}`).sort();
}

function declaredColumns(table: SQLiteTable): string[] {
  const cfg = getTableConfig(table);
  const keyed = new Set(cfg.primaryKeys.flatMap((k) => k.columns.map((c) => c.name)));
  return cfg.columns
    .map((c) => {
      const pk = c.primary || keyed.has(c.name);
      return `${c.name}:${c.getSQLType().toUpperCase()}:${c.notNull || pk ? 1 : 0}:${pk ? 'pk' : ''}`;
    })
    .sort();
}

/** The problems found in a database migrated with the full list, one line each; empty when none. */
function schemaProblems(sqlite: Database.Database): string[] {
  const problems: string[] = [];
  const declared = new Map<string, string>();
  for (const { capability, table } of tables) {
    const name = getTableConfig(table).name;
    const other = declared.get(name);
    if (other) problems.push(`table ${name} is declared by both ${other} and ${capability}`);
    declared.set(name, capability);
    const inSql = sqlColumns(sqlite, name);
    if (inSql.length === 0) {
      problems.push(`${capability}: table ${name} is declared in drizzle but no migration creates it`);
      continue;
    }
    const inDrizzle = declaredColumns(table);
    const missing = inDrizzle.filter((c) => !inSql.includes(c));
    const extra = inSql.filter((c) => !inDrizzle.includes(c));
    if (missing.length || extra.length) {
      problems.push(`${capability}: table ${name} differs; drizzle only: [${missing.join(', ')}], SQL only: [${extra.join(', ')}]`);
    }
  }
  for (const name of sqlTables(sqlite)) {
    if (!declared.has(name)) problems.push(`table ${name} has no drizzle definition: declare it in its capability's platform/<capability>/schema.ts`);
  }
  return problems;
}

test('every capability with tables is found', () => {
  const capabilities = [...new Set(tables.map((t) => t.capability))].sort();
  assert.equal(capabilities, ['async', 'auth', 'functions', 'network', 'registry', 'secrets', 'vmm']);
});

test('every table in the database matches its drizzle definition, and every table has one', () => {
  const file = path.join(tempDir('ign-store-schema-'), 'ignition.db');
  const store = openDatabase(file, platformMigrations);
  try {
    assert.equal(schemaProblems(store.sqlite), []);
    // Every drizzle table was compared against a table that exists.
    assert.equal(sqlTables(store.sqlite), tables.map((t) => getTableConfig(t.table).name).sort());
  } finally {
    store.close();
  }
  // Reopening applies nothing again.
  const again = openDatabase(file, platformMigrations);
  try {
    assert.equal(schemaProblems(again.sqlite), []);
  } finally {
    again.close();
  }
});

/** The machines table and its index as SQLite describes them: columns, then indexes and their columns. */
function machinesShape(sqlite: Database.Database): unknown {
  const indexes = (sqlite.prepare('PRAGMA index_list(machines)').all() as Array<{ name: string; unique: number; origin: string; partial: number }>)
    .map((i) => ({ ...i, seq: undefined, columns: sqlite.prepare(`PRAGMA index_info(${JSON.stringify(i.name)})`).all() }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { columns: sqlite.prepare('PRAGMA table_info(machines)').all(), indexes };
}

test('a database made before vmm-001 upgrades without a change to the machines table', () => {
  const file = path.join(tempDir('ign-store-upgrade-'), 'ignition.db');
  const before = platformMigrations.filter((m) => m.id !== 'vmm-001');
  assert.is(before.length, platformMigrations.length - 1, 'vmm-001 is in the list');

  const old = openDatabase(file, before);
  let shape: unknown;
  let definition: unknown;
  try {
    new MachineRecords(old).insert({ id: 'vm_1', driver: 'process', role: 'vm', workspace: '/nowhere', state: 'stopped', name: 'kept' });
    shape = machinesShape(old.sqlite);
    definition = old.sqlite.prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'machines' ORDER BY name").all();
  } finally {
    old.close();
  }

  const store = openDatabase(file, platformMigrations);
  try {
    const applied = store.sqlite.prepare('SELECT id FROM _migrations').pluck().all() as string[];
    assert.ok(applied.includes('vmm-001'), 'vmm-001 is recorded');
    assert.equal(store.sqlite.prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'machines' ORDER BY name").all(), definition);
    assert.equal(machinesShape(store.sqlite), shape);
    assert.is(new MachineRecords(store).get('vm_1')?.name, 'kept');
    assert.equal(schemaProblems(store.sqlite), []);
  } finally {
    store.close();
  }
});

test('vmm-001 alone builds the machines table functions-001/002 built', () => {
  const full = openDatabase(':memory:', platformMigrations);
  const alone = openDatabase(':memory:', vmmMigrations);
  try {
    assert.equal(machinesShape(alone.sqlite), machinesShape(full.sqlite));
    assert.equal(sqlColumns(alone.sqlite, 'machines'), declaredColumns(machinesTable));
    // The name index is unique and partial in both: two unnamed machines, never two of one name.
    const records = new MachineRecords(alone);
    records.insert({ id: 'a', driver: 'process', role: 'instance', workspace: '/a', state: 'running' });
    records.insert({ id: 'b', driver: 'process', role: 'instance', workspace: '/b', state: 'running' });
    records.insert({ id: 'c', driver: 'process', role: 'vm', workspace: '/c', state: 'running', name: 'dup' });
    assert.throws(() => records.insert({ id: 'd', driver: 'process', role: 'vm', workspace: '/d', state: 'running', name: 'dup' }), /UNIQUE/);
  } finally {
    full.close();
    alone.close();
  }
});

test.run();
