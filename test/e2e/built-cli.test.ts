/**
 * The CLI as a user runs it: the built `dist/ignition.mjs`, started from a directory outside the
 * repository. The rest of the suite imports commands from source, where every file sits in its
 * folder; the bundle does not, so a command that finds a file relative to its own module breaks
 * only here. Every command listed by `ignition --help` must answer its own `--help`, and
 * `image build` must find the sources it compiles (the vsock addon, the guest init).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT, runCli } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { rerun } from '../support/needs.ts';
import { findTool } from '../../platform/image/tools.ts';
import { nodeHeadersDir } from '../../agent/vsock/build.ts';

const outside = tempDir('ign-built-cli-');
// Plain text: clipanion colours its help on a terminal and when FORCE_COLOR asks for it.
const plain = { NO_COLOR: '1', FORCE_COLOR: '0' };

/** The command paths `ignition --help` lists (`ignition alias set …` → `alias set`). */
function listedCommands(help: string): string[] {
  const paths = new Set<string>();
  for (const m of help.matchAll(/^ {2}ignition ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)*)/gm)) paths.add(m[1]);
  return [...paths].sort();
}

test('every command the built CLI lists answers --help from outside the repository', async () => {
  assert.ok(existsSync(CLI), `no ${CLI}: run npm run build`);
  const top = await runCli(['--help'], { cwd: outside, env: plain });
  assert.is(top.code, 0, top.stderr);
  const commands = listedCommands(top.stdout);
  // A floor, so that a change of the help layout cannot make this test check nothing.
  for (const expected of ['daemon', 'deploy', 'init', 'image build', 'invoke', 'logs', 'dev', 'doctor', 'token create', 'vm run']) {
    assert.ok(commands.includes(expected), `"${expected}" is not among the listed commands: ${commands.join(', ')}`);
  }
  const failed: string[] = [];
  for (const command of commands) {
    const r = await runCli([...command.split(' '), '--help'], { cwd: outside, env: plain });
    if (r.code !== 0 || !r.stdout.includes(`ignition ${command}`) || r.stderr !== '') {
      failed.push(`${command}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.trim().slice(0, 300))}`);
    }
  }
  assert.equal(failed, [], 'commands whose --help fails from dist');
});

test('the package ships what the built CLI reads at run time', () => {
  // `npm pack --dry-run` lists the files a packed (or published) copy would hold, from "files".
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  assert.is(pack.status, 0, pack.stderr);
  const files = new Set((JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
  for (const needed of [
    'dist/ignition.mjs',
    'dist/agent.mjs',
    'agent/vsock/src/vsock.c',
    'agent/vsock/binding.gyp',
    'platform/image/init/init.c',
    'templates/hello/package.json',
    'templates/hono/index.ts',
    'templates/json-api/test/index.test.ts',
  ]) {
    assert.ok(files.has(needed), `the package leaves out ${needed}`);
  }
});

const imageTools = ['mke2fs', 'debugfs', 'ip'].filter((t) => !findTool(t));
const cc = findTool('gcc') ?? findTool('cc');
const imageLack = imageTools.length
  ? lack(`image build needs ${imageTools.join(', ')}`, `apt-get install -y e2fsprogs iproute2 && ${rerun()}`)
  : !cc || !nodeHeadersDir()
    ? lack(
        'image build compiles the vsock addon and the init: no C compiler or no Node headers beside node',
        `apt-get install -y gcc libc6-dev (Node from nodejs.org ships its headers) && ${rerun()}`,
      )
    : null;

skipUnless(imageLack)('image build from the built CLI finds the addon and init sources and builds the image', async () => {
  const out = path.join(outside, 'images', 'base.ext4');
  const r = await runCli(['image', 'build', '--out', out, '--size-mib', '256', '--json'], { cwd: outside });
  // The failure this guards against: `src/vsock.c: No such file or directory [vsock_build_failed]`,
  // the addon's sources looked up beside the bundle's chunk.
  assert.is(r.code, 0, r.stderr);
  const image = JSON.parse(r.stdout).image as { path: string; digest: string; files: number };
  assert.is(image.path, out);
  assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(statSync(out).size >= 256 * 2 ** 20);
  // The addon was built beside its sources in the repository, not inside dist/.
  assert.ok(existsSync(path.join(ROOT, 'agent', 'vsock', 'build', 'Release', 'vsock.node')));
  assert.not.ok(existsSync(path.join(ROOT, 'dist', 'chunks', 'build')), 'nothing is built inside dist/');
  assert.ok(readFileSync(path.join(ROOT, 'platform', 'image', 'init', 'init.c'), 'utf8').length > 0);
});

test.run();
