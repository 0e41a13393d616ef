/**
 * scripts/fetch-assets.sh and scripts/install.sh without the internet: argument handling, dry
 * runs, and a full fetch from file:// URLs (a locally made release tarball with its .sha256.txt
 * and a stand-in kernel) including the idempotent second run and checksum failures that install
 * nothing. Both scripts are shellcheck-clean where shellcheck is installed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool } from '../../platform/image/index.ts';
import { reportSkip } from '../support/needs.ts';
import { tempDir } from './support.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fetchAssets = path.join(repo, 'scripts', 'fetch-assets.sh');
const install = path.join(repo, 'scripts', 'install.sh');
const shellcheck = findTool('shellcheck');
const curl = findTool('curl');
const skipShellcheck = shellcheck ? null : 'needs shellcheck: apt-get install -y shellcheck';
const skipFetch = curl ? null : 'needs curl: apt-get install -y curl';
reportSkip('test/image/scripts.test.ts (shellcheck)', skipShellcheck);
reportSkip('test/image/scripts.test.ts (file:// fetch)', skipFetch);

const tmp = tempDir('scripts');
test.after(() => tmp.cleanup());

function sh(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A local "release": <base>/v1.16.1/firecracker-v1.16.1-x86_64.tgz and its .sha256.txt. */
function makeRelease(version: string, arch: string): string {
  const base = path.join(tmp.dir, 'releases');
  const build = path.join(tmp.dir, 'release-build', `release-${version}-${arch}`);
  mkdirSync(build, { recursive: true });
  mkdirSync(path.join(base, version), { recursive: true });
  for (const bin of ['firecracker', 'jailer']) {
    writeFileSync(path.join(build, `${bin}-${version}-${arch}`), `#!/bin/sh\necho ${bin} ${version}\n`);
    chmodSync(path.join(build, `${bin}-${version}-${arch}`), 0o755);
  }
  const tgz = path.join(base, version, `firecracker-${version}-${arch}.tgz`);
  const tar = spawnSync('tar', ['-czf', tgz, '-C', path.dirname(build), path.basename(build)]);
  assert.is(tar.status, 0, String(tar.stderr));
  writeFileSync(`${tgz}.sha256.txt`, `${sha256(readFileSync(tgz))}  ${path.basename(tgz)}\n`);
  return base;
}

(skipShellcheck ? test.skip : test)('both scripts are shellcheck-clean', () => {
  const r = spawnSync(shellcheck!, [fetchAssets, install], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout);
});

test('fetch-assets: --help, unknown options and malformed values', () => {
  assert.is(sh(fetchAssets, ['--help']).code, 0);
  const unknown = sh(fetchAssets, ['--bogus']);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, 'unknown option --bogus');
  assert.is(sh(fetchAssets, ['--assets-dir']).code, 2);
  assert.match(sh(fetchAssets, ['--dry-run', '--firecracker-version', '1.16']).err, 'must look like v1.16.1');
  assert.match(sh(fetchAssets, ['--dry-run', '--kernel-sha256', 'abc']).err, '64 lowercase hex');
  assert.match(sh(fetchAssets, ['--dry-run', '--arch', 'riscv64']).err, 'unsupported architecture');
});

test('fetch-assets --dry-run names the release and the CI bucket listing, and writes nothing', () => {
  const dir = path.join(tmp.dir, 'dry');
  const r = sh(fetchAssets, ['--dry-run', '--assets-dir', dir, '--arch', 'x86_64', '--firecracker-version', 'v1.16.1']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'https://github.com/firecracker-microvm/firecracker/releases/download/v1.16.1/firecracker-v1.16.1-x86_64.tgz');
  assert.match(r.out, 'list-type=2&prefix=firecracker-ci/&delimiter=/');
  assert.match(r.out, 'x86_64/vmlinux-6.1.*');
  assert.not.ok(existsSync(dir));
});

(skipFetch ? test.skip : test)('fetch-assets installs from file:// URLs, verifies, and is idempotent', () => {
  const releases = makeRelease('v1.16.1', 'x86_64');
  const kernel = path.join(tmp.dir, 'vmlinux-6.1.155');
  writeFileSync(kernel, 'not really a kernel');
  const assets = path.join(tmp.dir, 'assets');
  const args = [
    '--assets-dir',
    assets,
    '--arch',
    'x86_64',
    '--firecracker-base-url',
    `file://${releases}`,
    '--kernel-url',
    `file://${kernel}`,
    '--kernel-sha256',
    sha256('not really a kernel'),
  ];
  const first = sh(fetchAssets, args);
  assert.is(first.code, 0, first.err);
  assert.is(readlinkSync(path.join(assets, 'firecracker')), 'firecracker-v1.16.1/firecracker');
  assert.is(readlinkSync(path.join(assets, 'vmlinux')), 'kernels/vmlinux-6.1.155');
  const fc = spawnSync(path.join(assets, 'firecracker'), { encoding: 'utf8' });
  assert.is(fc.stdout, 'firecracker v1.16.1\n');
  assert.ok(existsSync(path.join(assets, 'jailer')));
  const before = statSync(path.join(assets, 'firecracker-v1.16.1', 'firecracker')).ino;

  const second = sh(fetchAssets, args);
  assert.is(second.code, 0, second.err);
  assert.match(second.err, 'firecracker v1.16.1 already installed and verified');
  assert.match(second.err, 'kernel vmlinux-6.1.155 already installed and verified');
  assert.not.match(second.err, 'downloading');
  assert.is(statSync(path.join(assets, 'firecracker-v1.16.1', 'firecracker')).ino, before);
});

(skipFetch ? test.skip : test)('a checksum mismatch fails and installs nothing', () => {
  const releases = makeRelease('v1.15.0', 'x86_64');
  const tgz = path.join(releases, 'v1.15.0', 'firecracker-v1.15.0-x86_64.tgz');
  writeFileSync(`${tgz}.sha256.txt`, `${'0'.repeat(64)}  ${path.basename(tgz)}\n`);
  const assets = path.join(tmp.dir, 'assets-bad');
  const r = sh(fetchAssets, [
    '--assets-dir',
    assets,
    '--arch',
    'x86_64',
    '--firecracker-version',
    'v1.15.0',
    '--firecracker-base-url',
    `file://${releases}`,
    '--skip-kernel',
  ]);
  assert.is(r.code, 1);
  assert.match(r.err, 'checksum mismatch for firecracker-v1.15.0-x86_64.tgz');
  assert.not.ok(existsSync(path.join(assets, 'firecracker')));
  assert.not.ok(existsSync(path.join(assets, 'firecracker-v1.15.0')));

  const kernel = path.join(tmp.dir, 'vmlinux-6.1.1');
  writeFileSync(kernel, 'kernel bytes');
  const k = sh(fetchAssets, ['--assets-dir', assets, '--skip-firecracker', '--kernel-url', `file://${kernel}`, '--kernel-sha256', 'f'.repeat(64)]);
  assert.is(k.code, 1);
  assert.match(k.err, 'checksum mismatch for vmlinux-6.1.1');
  assert.not.ok(existsSync(path.join(assets, 'kernels', 'vmlinux-6.1.1')));
  assert.not.ok(existsSync(path.join(assets, 'vmlinux')));
});

test('install.sh: argument handling, and a dry run that prints every step', () => {
  assert.is(sh(install, ['--help']).code, 0);
  assert.is(sh(install, ['--what']).code, 2);
  assert.match(sh(install, ['--dry-run', '--node-version', '18.20.0']).err, 'Node 20 release');
  const r = sh(install, ['--dry-run', '--no-kvm', '--data-dir', path.join(tmp.dir, 'data')]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'apt-get install -y -q --no-install-recommends');
  assert.match(r.out, 'npm --prefix');
  assert.match(r.out, 'scripts/image/build.ts');
  assert.match(r.out, 'ExecStart=');
  assert.match(r.out, 'dist/ignition.mjs daemon');
  assert.match(r.out, 'systemctl enable --now ignition.service');
  assert.not.ok(existsSync(path.join(tmp.dir, 'data')));
});

test('install.sh without /dev/kvm explains nested virtualisation (unless --no-kvm)', () => {
  if (existsSync('/dev/kvm')) {
    console.log('NOTE /dev/kvm exists here: the no-KVM message path is not exercised');
    assert.is(sh(install, ['--dry-run', '--skip-service']).code, 0);
    return;
  }
  const r = sh(install, ['--dry-run']);
  assert.is(r.code, 1);
  assert.match(r.err, 'nested=1');
  assert.match(r.err, '--no-kvm');
});

test.run();
