/**
 * Edges of the CLI through the real built CLI and a real daemon: a reader that closes stdout
 * early, flag values out of range, references to things that do not exist, and output meant for
 * a terminal reaching a pipe.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CLI, deploy, FIXTURES, ROOT, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
  await deploy(d, path.join(FIXTURES, 'counter'));
});
test.after(async () => {
  await d?.stop();
});

/** Runs the CLI with its stdout pipe closed by the reader before the command writes anything. */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a reader that closes stdout early ends the command quietly with 0', async () => {
  for (const args of [['ls'], ['images'], ['token', 'ls'], ['vm', 'ps'], ['--version'], ['--help']]) {
    const r = await runWithClosedStdout(args);
    assert.is(r.stderr, '', `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.code, 0, args.join(' '));
  }
});

test.run();
