/**
 * Copy-on-write disk clones. Firecracker has no drive override on restore: a clone reopens the
 * drive at the path stored in the snapshot, relative to its working directory, so every clone gets
 * its own file at that path in its own workspace. A reflink (FICLONE) costs nothing on btrfs, XFS
 * and similar; elsewhere the fallback copies only the blocks that hold data and leaves holes for
 * the rest, so a mostly empty 1 GiB image stays cheap.
 */
import { constants, copyFileSync, mkdtempSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const CHUNK = 1024 * 1024;
const BLOCK = 4096;

export type CloneMethod = 'reflink' | 'sparse';

/** Clones `src` to `dst` (which must not exist): reflink when the filesystem can, else sparse. */
export async function cloneDisk(src: string, dst: string): Promise<CloneMethod> {
  try {
    // FICLONE_FORCE fails instead of silently doing a full copy, so we choose the fallback.
    copyFileSync(src, dst, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL);
    return 'reflink';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EEXIST' || code === 'EACCES') throw err;
  }
  await sparseCopy(src, dst);
  return 'sparse';
}

/**
 * Whether files in `dir` can be reflinked (FICLONE): tried on a scratch file, since neither the
 * filesystem type nor its mount options say it reliably (XFS needs `reflink=1` at mkfs time).
 */
export function reflinkWorks(dir: string): boolean {
  let scratch: string | undefined;
  try {
    scratch = mkdtempSync(path.join(dir, '.reflink-probe-'));
    writeFileSync(path.join(scratch, 'a'), 'probe');
    copyFileSync(path.join(scratch, 'a'), path.join(scratch, 'b'), constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Where a source file's data is: [offset, length] runs, from its first sparse copy. */
type Runs = Array<[number, number]>;
const runsCache = new Map<string, Runs>();
const RUNS_CACHE_MAX = 32;
/**
 * Scans under way, by the same key: copies of one source started together (a fork storm's clones
 * all clone the fork's fresh snapshot disk at once) wait for the first one's map instead of each
 * reading and comparing the whole image. Resolves undefined if that scan failed.
 */
const scans = new Map<string, Promise<Runs | undefined>>();

function remember(key: string, runs: Runs): void {
  if (runsCache.size >= RUNS_CACHE_MAX) runsCache.delete(runsCache.keys().next().value!);
  runsCache.set(key, runs);
}

/**
 * Copies `src` to a new `dst`, skipping all-zero blocks so they stay holes. A file with no data
 * blocks at all (a fresh sparse image) is only sized; otherwise zero blocks are found with a native
 * compare and consecutive data blocks are written in one call. The runs of data found are kept per
 * source file (device, inode, size, mtime): the disks cloned again and again (a snapshot's, for
 * every restore and fork clone) are never modified, and a later copy reads only their data instead
 * of scanning every block (Node has no SEEK_DATA to find it otherwise).
 */
export async function sparseCopy(src: string, dst: string): Promise<void> {
  const input = await fsp.open(src, 'r');
  let output: fsp.FileHandle | undefined;
  try {
    const st = await input.stat();
    const size = st.size;
    output = await fsp.open(dst, 'wx');
    const key = `${st.dev}:${st.ino}:${size}:${st.mtimeMs}`;
    const known = runsCache.get(key) ?? (await scans.get(key));
    if (known) {
      const buf = Buffer.allocUnsafeSlow(CHUNK);
      for (const [start, length] of known) {
        for (let pos = start; pos < start + length;) {
          const { bytesRead } = await input.read(buf, 0, Math.min(CHUNK, start + length - pos), pos);
          if (bytesRead === 0) break;
          await output.write(buf, 0, bytesRead, pos);
          pos += bytesRead;
        }
      }
    } else if (st.blocks > 0) {
      let found: (runs: Runs | undefined) => void = () => undefined;
      if (!scans.has(key)) {
        const scan = new Promise<Runs | undefined>((resolve) => (found = resolve));
        scans.set(key, scan);
        void scan.finally(() => scans.get(key) === scan && scans.delete(key));
      }
      const runs: Runs = [];
      try {
        // Unzeroed: only the bytes read are ever looked at, and zero-filling 1 MiB per clone shows.
        const buf = Buffer.allocUnsafeSlow(CHUNK);
        for (let pos = 0; pos < size;) {
          const { bytesRead } = await input.read(buf, 0, Math.min(CHUNK, size - pos), pos);
          if (bytesRead === 0) break;
          let runStart = -1;
          for (let off = 0; off <= bytesRead; off += BLOCK) {
            const end = Math.min(off + BLOCK, bytesRead);
            const data = off < bytesRead && !isZero(buf, off, end);
            if (data && runStart === -1) runStart = off;
            if (!data && runStart !== -1) {
              await output.write(buf, runStart, off - runStart, pos + runStart);
              const last = runs[runs.length - 1];
              // A run cut by the chunk boundary continues in the next chunk: one run, not two.
              if (last && last[0] + last[1] === pos + runStart) last[1] += off - runStart;
              else runs.push([pos + runStart, off - runStart]);
              runStart = -1;
            }
          }
          pos += bytesRead;
        }
        remember(key, runs);
        found(runs);
      } finally {
        found(undefined);
      }
    } else {
      remember(key, []);
    }
    // Sets the length, leaving any trailing zero blocks as a hole.
    await output.truncate(size);
  } catch (err) {
    await output?.close().catch(() => undefined);
    output = undefined;
    await fsp.rm(dst, { force: true });
    throw err;
  } finally {
    await output?.close();
    await input.close();
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

function isZero(buf: Buffer, start: number, end: number): boolean {
  // Buffer.equals is a native memcmp: far faster than a byte loop in JavaScript.
  return end - start === BLOCK ? buf.subarray(start, end).equals(ZERO_BLOCK) : buf.subarray(start, end).equals(ZERO_BLOCK.subarray(0, end - start));
}
