/**
 * The description of the machine a run happened on: CPU, cores, memory, kernel, Node and package
 * versions, date, and the load average (the host is shared, so background load is part of the
 * conditions and is recorded at the start and the end of the run).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './servers.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  os: string;
  node: string;
  packages: Record<string, string>;
  date: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  kvm: boolean;
}

const PACKAGES = ['hono', '@hono/node-server', 'undici', 'esbuild', 'better-sqlite3', 'workerd', 'autocannon', 'typescript'];

function versionOf(name: string): string {
  try {
    const req = createRequire(path.join(ROOT, 'package.json'));
    const file = req.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    try {
      return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  }
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  const ignition = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  let kvm = false;
  try {
    readFileSync('/dev/kvm');
  } catch (err) {
    kvm = (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    os: os.version(),
    node: process.version,
    packages: { ignition, ...Object.fromEntries(PACKAGES.map((p) => [p, versionOf(p)])) },
    date: new Date().toISOString(),
    loadAverageStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    kvm,
  };
}

/** The code a run measured: the commit checked out and whether tracked files differed from it. */
export interface SourceInfo {
  /** `git rev-parse HEAD`, or null outside a git checkout. */
  commit: string | null;
  /** Tracked files were modified, added or deleted against the commit (untracked files are not counted). */
  dirty: boolean | null;
  /** Those files, as `git status --porcelain` lists them (at most 50). */
  changed: string[];
}

export function describeSource(root = ROOT): SourceInfo {
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const commit = git('rev-parse', 'HEAD').trim();
    const changed = git('status', '--porcelain', '--untracked-files=no')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.slice(3));
    return { commit, dirty: changed.length > 0, changed: changed.slice(0, 50) };
  } catch {
    return { commit: null, dirty: null, changed: [] };
  }
}
