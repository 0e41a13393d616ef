/**
 * Packs a root tree as an uncompressed initramfs (cpio "newc"), the other way to hand the base
 * image to a kernel: every kernel with CONFIG_BLK_DEV_INITRD unpacks it into RAM without needing a
 * block driver or ext4 built in (Debian's distribution kernel has both as modules, so the QEMU
 * smoke test boots this way). Boot it with `rdinit=/sbin/init`.
 *
 * The writer is small enough to own: entries sorted by path, fixed inode numbers, owner 0:0 and
 * one mtime, so the archive is as reproducible as the ext4 image. Device nodes can be added as
 * data (no mknod, no root): /dev/console lets the kernel give init a console before /dev exists.
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface DeviceNode {
  path: string;
  /** 'c' or 'b'. */
  type: 'c' | 'b';
  major: number;
  minor: number;
  mode: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** One newc header + name, padded to 4 bytes (pure). */
export function newcHeader(f: {
  ino: number;
  mode: number;
  mtime: number;
  size: number;
  nlink: number;
  rmajor?: number;
  rminor?: number;
  name: string;
}): Buffer {
  const name = Buffer.from(`${f.name}\0`);
  const fields = [f.ino, f.mode, 0, 0, f.nlink, f.mtime, f.size, 0, 0, f.rmajor ?? 0, f.rminor ?? 0, name.length, 0];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'latin1');
  const total = head.length + name.length;
  return Buffer.concat([head, name, Buffer.alloc((4 - (total % 4)) % 4)]);
}

function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if (lstatSync(path.join(root, p)).isDirectory()) out.push(...walk(root, p));
  }
  return out;
}

/** Writes `tree` (plus `devices`) to `outFile` as a newc archive; returns its size in bytes. */
export function packInitramfs(tree: string, outFile: string, options: { epoch: number; devices?: DeviceNode[] }): number {
  const fd = openSync(outFile, 'w');
  let written = 0;
  let ino = 1;
  const put = (buf: Buffer) => {
    writeSync(fd, buf);
    written += buf.length;
  };
  const pad = () => {
    if (written % 4) put(Buffer.alloc(4 - (written % 4)));
  };
  try {
    const devices = new Map((options.devices ?? []).map((d) => [d.path.replace(/^\//, ''), d]));
    const entries = [...new Set([...walk(tree), ...devices.keys()])].sort();
    for (const rel of entries) {
      const dev = devices.get(rel);
      if (dev) {
        const mode = (dev.type === 'c' ? S_IFCHR : S_IFBLK) | dev.mode;
        put(newcHeader({ ino: ino++, mode, mtime: options.epoch, size: 0, nlink: 1, rmajor: dev.major, rminor: dev.minor, name: rel }));
        continue;
      }
      const full = path.join(tree, rel);
      const st = lstatSync(full);
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) {
        put(newcHeader({ ino: ino++, mode: S_IFDIR | perm, mtime: options.epoch, size: 0, nlink: 2, name: rel }));
      } else if (st.isSymbolicLink()) {
        const target = Buffer.from(readlinkSync(full));
        put(newcHeader({ ino: ino++, mode: S_IFLNK | 0o777, mtime: options.epoch, size: target.length, nlink: 1, name: rel }));
        put(target);
        pad();
      } else if (st.isFile()) {
        put(newcHeader({ ino: ino++, mode: S_IFREG | perm, mtime: options.epoch, size: st.size, nlink: 1, name: rel }));
        copyInto(full, st.size, put);
        pad();
      }
    }
    put(newcHeader({ ino: 0, mode: 0, mtime: 0, size: 0, nlink: 1, name: 'TRAILER!!!' }));
    pad();
  } finally {
    closeSync(fd);
  }
  return written;
}

function copyInto(file: string, size: number, put: (b: Buffer) => void): void {
  if (size < 1 << 20) {
    put(readFileSync(file));
    return;
  }
  const src = openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (;;) {
      const n = readSync(src, buf, 0, buf.length, null);
      if (n <= 0) break;
      put(buf.subarray(0, n));
    }
  } finally {
    closeSync(src);
  }
}
