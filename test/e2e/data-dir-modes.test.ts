/**
 * The data directory is private: created 0700 with the database (and its WAL and shared-memory
 * files) 0600, and an existing directory and database with looser modes are tightened when the
 * daemon starts. A root daemon's directory is 0711: its sandboxes run as other uids and pass
 * through to their workspaces (platform/daemon.ts, dataDirMode), without listing it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

const mode = (p: string) => statSync(p).mode & 0o777;
const DB_FILES = ['ignition.db', 'ignition.db-wal', 'ignition.db-shm'];
const DIR_MODE = process.getuid?.() === 0 ? 0o711 : 0o700;

test('a new data directory is private and the database files 0600', async () => {
  const dataDir = path.join(tempDir('ign-modes-'), 'nested', 'data');
  const d = await startTestDaemon({ dataDir });
  try {
    assert.is(mode(dataDir), DIR_MODE);
    for (const f of DB_FILES) assert.is(mode(path.join(dataDir, f)), 0o600, f);
    assert.is(mode(path.join(dataDir, 'admin.token')), 0o600);
  } finally {
    await d.stop();
  }
});

test('an existing data directory and database are tightened at start', async () => {
  const dataDir = path.join(tempDir('ign-modes-'), 'data');
  const first = await startTestDaemon({ dataDir });
  await first.stop();
  chmodSync(dataDir, 0o755);
  chmodSync(path.join(dataDir, 'ignition.db'), 0o644);
  // A crash leaves the WAL and shared-memory files behind, as readable as the database was.
  for (const f of DB_FILES.slice(1)) {
    if (!existsSync(path.join(dataDir, f))) writeFileSync(path.join(dataDir, f), '');
    chmodSync(path.join(dataDir, f), 0o644);
  }
  const d = await startTestDaemon({ dataDir });
  try {
    assert.is(mode(dataDir), DIR_MODE);
    for (const f of DB_FILES) assert.is(mode(path.join(dataDir, f)), 0o600, f);
  } finally {
    await d.stop();
  }
});

test.run();
