/**
 * The benchmark report states what it measured: a goal judged on one summary (the median per
 * deploy) prints the other (pooled) in its verdict, in the summary table and in its section, and a
 * run records the commit it measured and whether the tree had uncommitted changes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeMachine, describeSource } from '../../scripts/bench/lib/machine.ts';
import { renderMarkdown } from '../../scripts/bench/lib/report.ts';
import { goal, type BenchResult } from '../../scripts/bench/lib/types.ts';

function result(goals: BenchResult['goals']): BenchResult {
  return { id: 'operations', title: 'Operations under traffic', measures: '', workload: '', runs: '', tables: [], goals, notes: [], raw: null };
}

test('a goal judged per deploy shows the pooled figure in its verdict, in the table and its section', () => {
  const g = goal('p99 during a deploy vs before (steady load)', 1.32, '<=', 1.5, '×', undefined, { basis: 'median per deploy', also: { pooled: 1.59 } });
  const md = renderMarkdown({ machine: describeMachine(), results: [result([g])], quick: true, seconds: 1 });
  const row = md.split('\n').find((l) => l.startsWith('| Operations under traffic |'));
  assert.ok(row, md);
  assert.ok(row.includes('met at 1.32× (median per deploy; pooled 1.59×)'), row);
  assert.match(md, '**Goal — p99 during a deploy vs before (steady load):** met at 1.32× (median per deploy; pooled 1.59×), target <= 1.5×.');
});

test('a missed goal and a missing pooled figure are said so', () => {
  const g = goal('p99 after a deploy vs before (steady load)', 2.05, '<=', 1.5, '×', () => 'Because.', { basis: 'median per deploy', also: { pooled: null } });
  const md = renderMarkdown({ machine: describeMachine(), results: [result([g])], quick: true, seconds: 1 });
  assert.match(md, '| **missed** at 2.05× (median per deploy; pooled n/a) |');
  assert.match(md, ':** MISSED at 2.05× (median per deploy; pooled n/a), target <= 1.5×. Because.');
});

test('a goal with a single figure keeps a plain verdict', () => {
  const md = renderMarkdown({ machine: describeMachine(), results: [result([goal('CLI start', 1.11, '<=', 1.5, '×')])], quick: true, seconds: 1 });
  assert.match(md, '| CLI start | <= 1.5× | met at 1.11× |');
});

test('the run records its commit, and whether tracked files had changed', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-bench-src-'));
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
    git('init', '-q');
    writeFileSync(path.join(dir, 'a.ts'), 'one\n');
    git('add', 'a.ts');
    git('commit', '-q', '-m', 'one');
    const head = git('rev-parse', 'HEAD');
    assert.equal(describeSource(dir), { commit: head, dirty: false, changed: [] });
    writeFileSync(path.join(dir, 'untracked.ts'), 'x\n');
    assert.is(describeSource(dir).dirty, false, 'untracked files do not count');
    writeFileSync(path.join(dir, 'a.ts'), 'two\n');
    assert.equal(describeSource(dir), { commit: head, dirty: true, changed: ['a.ts'] });
    const md = renderMarkdown({ machine: describeMachine(), source: describeSource(dir), results: [], quick: true, seconds: 1 });
    assert.match(md, `| code | ${head}, with uncommitted changes to 1 tracked file(s)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(describeSource(os.tmpdir()), { commit: null, dirty: null, changed: [] });
});

test.run();
