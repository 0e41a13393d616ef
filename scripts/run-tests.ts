/**
 * Runs the uvu test files, each in its own Node process (so a crashing or leaking test cannot take
 * the others down), a few at a time, and prints one summary line that CI reads:
 * `N passed, N failed, N skipped`.
 *
 * A skip is never silent: a file that skips must print a `SKIP …` line with the reason and the
 * command that would un-skip it (test/support/skip.ts does), and every such line is repeated in
 * the summary. A file that ran no test at all and printed no `SKIP` line fails, as does one that
 * skipped tests without printing why: either is a test that can no longer fail.
 *
 * Usage: node --import tsx scripts/run-tests.ts [dir-or-file…]   (default: every *.test.ts under
 * test/, platform/, agent/ and runtime/)
 * IGNITION_TEST_JOBS sets the parallelism (default: the number of cores).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const roots = process.argv.slice(2);
// Template tests use node:test inside each scaffold; test/e2e/templates.test.ts runs them.
const defaults = ['test', 'platform', 'agent', 'runtime'];
const files = (roots.length ? roots : defaults).flatMap((root) => collect(root)).sort();
const jobs = Number(process.env.IGNITION_TEST_JOBS ?? os.availableParallelism());
/** A test file that runs longer than this is killed and counted as failed (a hang must not stall CI). */
const FILE_TIMEOUT_MS = Number(process.env.IGNITION_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);

function killGroup(pid: number | undefined, signal: NodeJS.Signals) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

function collect(root: string): string[] {
  let st;
  try {
    st = statSync(root);
  } catch {
    return [];
  }
  if (st.isFile()) return [root];
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'fixtures') continue;
    const p = path.join(root, entry.name);
    if (entry.isDirectory()) out.push(...collect(p));
    else if (entry.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

interface Result {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  /** The `SKIP …` lines the file printed (without the prefix). */
  skips: string[];
  code: number | null;
  output: string;
  ms: number;
}

/**
 * A `SKIP` line at the start of a line, or after uvu's progress marks when printed mid-suite.
 * uvu's own "Skipped: N" has no reason in it, so the lines are what names each skip.
 */
const SKIP_LINE = /^[\s•✘]*SKIP (.+)$/gm;

function runFile(file: string): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so a hung file and everything it started can be ended together.
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let timedOut = false;
    const watchdog = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, FILE_TIMEOUT_MS);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => {
      clearTimeout(watchdog);
      // Whatever the file left running (daemons, agents) goes with it.
      killGroup(child.pid, 'SIGKILL');
      if (timedOut) output += `\nscripts/run-tests.ts: ${file} did not finish within ${FILE_TIMEOUT_MS / 1000} s and was killed\n`;
      // uvu prints one "Total/Passed/Skipped" block per test.run(); sum them.
      const sum = (label: string) => [...output.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
      // uvu's Total counts the tests it ran; skipped ones are not in it.
      const total = sum('Total');
      const passed = sum('Passed');
      let skipped = sum('Skipped');
      const skips = [...output.matchAll(SKIP_LINE)].map((m) => m[1].trim());
      let failed = Math.max(0, total - passed);
      if ((code !== 0 || timedOut) && failed === 0) failed = 1; // a crash or hang outside any test still fails the run
      const refuse = (why: string) => {
        output += `\nscripts/run-tests.ts: ${file} ${why}\n`;
        failed = Math.max(failed, 1);
      };
      if (failed === 0 && total === 0 && skips.length === 0)
        refuse('ran no test and printed no SKIP line saying why; register its tests, or skip them with test/support/skip.ts');
      else if (failed === 0 && skipped > 0 && skips.length === 0)
        refuse(`skipped ${skipped} test(s) without a SKIP line saying why; skip with test/support/skip.ts`);
      // A file that skips as a whole before registering anything still counts as one skip.
      if (total === 0 && skipped === 0 && skips.length > 0) skipped = 1;
      resolve({ file, passed, failed, skipped, skips, code, output, ms: Date.now() - started });
    });
  });
}

async function main() {
  const queue = [...files];
  const results: Result[] = [];
  async function worker() {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const r = await runFile(file);
      results.push(r);
      const mark = r.failed ? 'FAIL' : 'ok  ';
      process.stdout.write(`${mark} ${r.file} (${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped, ${r.ms} ms)\n`);
      // Skipped tests explain themselves; show those lines, and everything for failures.
      if (r.failed) process.stdout.write(indent(r.output));
      else process.stdout.write(grouped(r.skips, '     '));
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  const t = results.reduce((a, r) => ({ p: a.p + r.passed, f: a.f + r.failed, s: a.s + r.skipped }), { p: 0, f: 0, s: 0 });
  // Every skip again at the end, where nobody scrolls past it; the closing line stays last for CI.
  const skips = results.sort((a, b) => a.file.localeCompare(b.file)).flatMap((r) => r.skips);
  if (skips.length) process.stdout.write(`\nSkipped, and why:\n${grouped(skips, '  ')}`);
  process.stdout.write(`\n${files.length} files\n${t.p} passed, ${t.f} failed, ${t.s} skipped\n`);
  process.exit(t.f > 0 || files.length === 0 ? 1 : 0);
}

/**
 * SKIP lines with the same file and reason as one entry naming each test (test/support/skip.ts
 * prints `<file> › "<test>": <reason>`), so a suite skipped as a whole reads as one reason.
 */
function grouped(lines: string[], pad: string): string {
  const groups = new Map<string, string[]>();
  for (const line of lines) {
    const m = /^(\S+) › ("(?:[^"\\]|\\.)*"): (.*)$/.exec(line);
    const key = m ? `${m[1]}: ${m[3]}` : line;
    groups.set(key, [...(groups.get(key) ?? []), ...(m ? [m[2]] : [])]);
  }
  // A file-wide line that only repeats the start of a per-test one says nothing more.
  const said = (why: string) => [...groups.keys()].some((k) => k !== why && k.startsWith(`${why}; to run it: `));
  return [...groups]
    .filter(([why, tests]) => tests.length > 0 || !said(why))
    .map(([why, tests]) => `${pad}SKIP ${why}\n${tests.map((t) => `${pad}  › ${t}\n`).join('')}`)
    .join('');
}

function indent(s: string) {
  return (
    s
      .split('\n')
      .map((l) => `     | ${l}`)
      .join('\n') + '\n'
  );
}

await main();
