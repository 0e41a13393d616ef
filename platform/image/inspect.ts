/**
 * Reading a built image without mounting it (no root, no loop device): file metadata through
 * `debugfs -R stat`, a consistency check with `e2fsck -fn`, and a full unpack with `debugfs rdump`.
 * Used by the tests, the QEMU smoke test (which boots the unpacked tree as an initramfs) and by
 * anyone who wants to look inside a base image.
 */
import { mkdirSync } from 'node:fs';
import { requireTool, runTool } from './tools.ts';

export interface ImageFileStat {
  type: string;
  /** Permission bits, e.g. 0o755. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/** Parses `debugfs -R "stat <path>"` output (pure). Returns null when the path does not exist. */
export function parseDebugfsStat(text: string): ImageFileStat | null {
  const head = /Type:\s+(\S+)\s+Mode:\s+([0-7]+)/.exec(text);
  const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text);
  const size = /Size:\s+(\d+)/.exec(text);
  if (!head || !owner || !size) return null;
  return { type: head[1], mode: parseInt(head[2], 8), uid: Number(owner[1]), gid: Number(owner[2]), size: Number(size[1]) };
}

/** Metadata of one path inside `image`, or null when it is absent. */
export async function statInImage(image: string, imagePath: string): Promise<ImageFileStat | null> {
  const { stdout } = await runTool(requireTool('debugfs'), ['-R', `stat ${imagePath}`, image]);
  return parseDebugfsStat(stdout);
}

/** `e2fsck -fn`: resolves with its output when the filesystem is clean, rejects otherwise. */
export async function checkImage(image: string): Promise<string> {
  const { stdout, stderr } = await runTool(requireTool('e2fsck'), ['-fn', image]);
  return `${stdout}${stderr}`;
}

/** Unpacks the whole image into `dir` (created) with `debugfs rdump`. */
export async function unpackImage(image: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await runTool(requireTool('debugfs'), ['-R', `rdump / ${dir}`, image]);
}
