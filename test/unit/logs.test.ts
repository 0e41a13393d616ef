/**
 * The function log sink on a real SQLite file: followers get every line once, as stored, with its
 * id, and a follower that reads the backlog and subscribes in the same tick (as `logs -f` does)
 * sees each line exactly once. The API documents every line of the stream with an id; the contract
 * walk caught a live line without one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { openDatabase } from '../../platform/store/db.ts';
import { functionMigrations } from '../../platform/functions/schema.ts';
import { vmmMigrations } from '../../platform/vmm/schema.ts';
import { LogSink, parseLogLevel, type LogEntry } from '../../platform/functions/logs.ts';
import { tempDir } from '../support/tmp.ts';

const line = (text: string) => ({ stream: 'stdout' as const, line: text });

test('a follower gets each line once, as stored, with its id', async () => {
  const store = openDatabase(path.join(tempDir('logs-'), 'ignition.db'), [...functionMigrations, ...vmmMigrations]);
  try {
    const logs = new LogSink(store, 1000);
    logs.ingest({ fn: 'f' }, line('before'));
    // Backlog, then subscription, in one tick: "before" is not stored yet when this starts.
    const backlog = logs.query('f');
    const live: LogEntry[] = [];
    logs.follow((e) => live.push(e));
    logs.ingest({ fn: 'f' }, line('after 1'));
    logs.ingest({ fn: 'f' }, line('after 2'));
    await new Promise((r) => setImmediate(r));
    assert.equal(
      backlog.map((e) => e.message),
      ['before'],
    );
    assert.equal(
      live.map((e) => e.message),
      ['after 1', 'after 2'],
      'each new line once, none of the backlog',
    );
    const stored = logs.query('f');
    assert.equal(
      live.map((e) => e.id),
      stored.slice(1).map((e) => e.id),
      'with the ids they are stored under',
    );
    assert.ok(live.every((e) => Number.isInteger(e.id) && e.id > backlog[0].id));
  } finally {
    store.close();
  }
});

test('a level filter keeps that level and the more severe ones', () => {
  const store = openDatabase(path.join(tempDir('logs-'), 'ignition.db'), [...functionMigrations, ...vmmMigrations]);
  try {
    const logs = new LogSink(store, 1000);
    for (const lvl of ['debug', 'info', 'warn', 'error']) logs.ingest({ fn: 'f' }, line(JSON.stringify({ t: 1, src: 'fn', lvl, inv: 'req_1', msg: lvl })));
    // A raw stderr line is an error, the platform's own lines too.
    logs.ingest({ fn: 'f' }, { stream: 'stderr', line: 'raw' });
    logs.system('f', 'error', 'lost the instance');
    const at = (level?: 'debug' | 'info' | 'warn' | 'error') => logs.query('f', { level }).map((e) => e.message);
    assert.equal(at('warn'), ['warn', 'error', 'raw', '[ignition] lost the instance']);
    assert.equal(at('error'), ['error', 'raw', '[ignition] lost the instance']);
    assert.equal(at('debug'), at());
    assert.is(at().length, 6);
    assert.equal(
      logs.query('f', { level: 'info', invocation: 'req_1' }).map((e) => e.message),
      ['info', 'warn', 'error'],
    );
    assert.is(parseLogLevel(''), undefined);
    assert.throws(
      () => parseLogLevel('loud'),
      (err: Error & { code?: string }) => err.code === 'bad_request' && /debug, info, warn, error/.test(err.message),
    );
  } finally {
    store.close();
  }
});

test.run();
