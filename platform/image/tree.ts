/**
 * Stages the base image's root tree in a directory, deterministically: entries are planned as
 * data (image path → source or content, mode), created in sorted order, and every mtime is pinned
 * to one epoch, so two builds from the same inputs give byte-identical trees and `mke2fs -d`
 * sees the same thing twice.
 *
 * Layout (see docs/GUEST.md): /sbin/init, /usr/local/bin/node and the libraries it loads at the
 * paths ldd printed, /opt/ignition/{agent.mjs, vsock.node}, a few /etc files, and empty mount
 * points (/proc /sys /dev /run /tmp /opt/function).
 */
import { chmodSync, copyFileSync, lutimesSync, mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ImageInputMissing } from './errors.ts';

export type Entry = { kind: 'dir'; mode: number } | { kind: 'file'; mode: number; source: string } | { kind: 'text'; mode: number; content: string };

/** Image path (absolute, '/'-separated) → entry. */
export type Plan = Map<string, Entry>;

export const IMAGE_NODE = '/usr/local/bin/node';
export const IMAGE_AGENT = '/opt/ignition/agent.mjs';
export const IMAGE_ADDON = '/opt/ignition/vsock.node';
export const IMAGE_INIT = '/sbin/init';

const MOUNT_POINTS = ['/dev', '/proc', '/sys', '/run', '/tmp', '/opt/function', '/root', '/var/tmp'];

export interface PlanInputs {
  nodeBinary: string;
  /** Absolute paths from ldd (libraries and loader), copied to the same paths in the image. */
  libraries: string[];
  agentBundle: string;
  vsockAddon: string;
  initBinary: string;
  /** More files: image path → host path (the agent's source map, a runtime bundle, a shell…). */
  extraFiles?: Record<string, string>;
  /** Written to /etc/ignition-release (JSON). */
  release: Record<string, unknown>;
}

function addDirs(plan: Plan, imagePath: string): void {
  for (let d = path.posix.dirname(imagePath); d !== '/'; d = path.posix.dirname(d)) {
    if (!plan.has(d)) plan.set(d, { kind: 'dir', mode: 0o755 });
  }
}

function addFile(plan: Plan, imagePath: string, source: string, mode: number): void {
  try {
    if (!statSync(source).isFile()) throw new Error('not a regular file');
  } catch (cause) {
    throw ImageInputMissing(`the image input ${source} (for ${imagePath}) is missing or not a file`, {
      data: { source, imagePath },
      cause,
    });
  }
  addDirs(plan, imagePath);
  // Copy what a symlink points at: the guest gets a plain file at the path the loader asks for.
  plan.set(imagePath, { kind: 'file', mode, source: realpathSync(source) });
}

function addText(plan: Plan, imagePath: string, content: string, mode = 0o644): void {
  addDirs(plan, imagePath);
  plan.set(imagePath, { kind: 'text', mode, content });
}

/** The image's contents as data (pure apart from checking that inputs exist). */
export function planTree(inputs: PlanInputs): Plan {
  const plan: Plan = new Map();
  for (const dir of MOUNT_POINTS) {
    addDirs(plan, `${dir}/x`);
  }
  plan.set('/tmp', { kind: 'dir', mode: 0o1777 });
  plan.set('/var/tmp', { kind: 'dir', mode: 0o1777 });
  plan.set('/root', { kind: 'dir', mode: 0o700 });
  addFile(plan, IMAGE_INIT, inputs.initBinary, 0o755);
  addFile(plan, IMAGE_NODE, inputs.nodeBinary, 0o755);
  for (const lib of inputs.libraries) addFile(plan, lib, lib, 0o755);
  addFile(plan, IMAGE_AGENT, inputs.agentBundle, 0o644);
  addFile(plan, IMAGE_ADDON, inputs.vsockAddon, 0o755);
  for (const [imagePath, source] of Object.entries(inputs.extraFiles ?? {})) {
    if (!/^\/[^\s]+$/.test(imagePath)) throw ImageInputMissing(`extra file path "${imagePath}" must be absolute, without whitespace`);
    addFile(plan, imagePath, source, statSync(source).mode & 0o111 ? 0o755 : 0o644);
  }
  addText(plan, '/etc/hostname', 'ignition\n');
  addText(plan, '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  addText(plan, '/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  addText(plan, '/etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  addText(plan, '/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  addText(plan, '/etc/resolv.conf', '');
  addText(plan, '/etc/ignition-release', `${JSON.stringify(inputs.release, null, 2)}\n`);
  return plan;
}

/**
 * Creates `plan` under `root` (an empty directory) in sorted order and pins every mtime/atime to
 * `epoch` (seconds). Returns the total bytes of file contents.
 */
export function materialise(plan: Plan, root: string, epoch: number): number {
  let bytes = 0;
  const paths = [...plan.keys()].sort();
  for (const p of paths) {
    const entry = plan.get(p)!;
    const target = path.join(root, p);
    if (entry.kind === 'dir') mkdirSync(target, { recursive: true });
    else if (entry.kind === 'file') {
      copyFileSync(entry.source, target);
      bytes += statSync(target).size;
    } else {
      writeFileSync(target, entry.content);
      bytes += Buffer.byteLength(entry.content);
    }
    chmodSync(target, entry.mode);
  }
  // Children before parents: setting a child's time does not touch its parent's mtime, but
  // creating it did, so parents are pinned last.
  for (const p of [...paths].reverse()) lutimesSync(path.join(root, p), epoch, epoch);
  chmodSync(root, 0o755);
  lutimesSync(root, epoch, epoch);
  return bytes;
}
