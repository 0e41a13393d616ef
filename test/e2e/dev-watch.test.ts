/**
 * `ignition dev` keeps hearing edits however the editor saves them. An atomic save (write a temp
 * file, rename it over index.ts, as `sed -i` and most editors do) replaces the file's inode; a
 * watcher that loses the file there deploys once and then never again. Each save here must be
 * deployed and served. A burst of saves deploys once, and changes under node_modules or .git
 * deploy nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { CLI, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitForText } from '../support/wait.ts';

let d: TestDaemon;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-devwatch-'));
const source = (text: string) => `export default { fetch: () => new Response('${text}') };\n`;

/** Saves as `sed -i` does: a new file beside the target, renamed over it. */
function renameSave(file: string, text: string) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

test.before(async () => {
  d = await startTestDaemon();
  writeFileSync(path.join(dir, 'index.ts'), source('v-one'));
  mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
  mkdirSync(path.join(dir, '.git'));
});
test.after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const deploys = (out: string) => (out.match(/\[dev\] (deployed|unchanged) /g) ?? []).length;

test('dev: every rename-save is deployed and served; bursts deploy once; node_modules and .git are ignored', async () => {
  const child = spawn(process.execPath, [CLI, 'dev', dir, '--name', 'watched'], {
    env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const body = async () => await (await request(`${d.url}/fn/watched/`)).body.text();
  try {
    await waitForText(() => out, /deployed watched v1/, 'first deploy');
    await waitForText(() => out, /watching /, 'the watcher');
    const index = path.join(dir, 'index.ts');
    for (const [i, text] of ['v-two', 'v-three', 'v-four'].entries()) {
      renameSave(index, source(text));
      await waitForText(() => out, new RegExp(`deployed watched v${i + 2}\\b`), `the deploy of rename-save ${i + 1}`);
      assert.is(await body(), text, `rename-save ${i + 1} is served`);
    }

    // A burst of saves within the debounce window is one deploy of the last content.
    const before = deploys(out);
    for (const text of ['burst-a', 'burst-b', 'burst-c']) renameSave(index, source(text));
    await waitForText(() => out, /deployed watched v5\b/, 'the deploy of the burst');
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(deploys(out) - before, 1, `one deploy for the burst:\n${out}`);
    assert.is(await body(), 'burst-c');

    // Dependencies being installed and git's own files are not edits of the function.
    const quiet = deploys(out);
    writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    writeFileSync(path.join(dir, '.git', 'index'), 'x');
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(deploys(out), quiet, `no deploy for node_modules or .git:\n${out}`);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});

test.run();
