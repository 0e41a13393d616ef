/**
 * The fake's snapshot files.
 *
 * State file: one JSON document holding what Firecracker's state file holds that matters here (the
 * device configuration: drives with their `path_on_host`, net ifaces, vsock `uds_path`, machine
 * config) with a checksum over it, standing in for Firecracker's CRC64: a corrupted file fails the
 * load, and the process exits as Firecracker does.
 *
 * Memory file: sparse, exactly `mem_size_mib` MiB, like a Full snapshot. Its first bytes hold the
 * one piece of "guest memory" the fake needs to bring the guest back: the function bundle the
 * agent had loaded (code and source map), so a clone's agent starts with the same function even
 * after the source VM and its files are gone.
 *
 * A Diff writes only what changed since the last snapshot or restore (here: the image, if it did)
 * into the file, which it keeps when it already has the guest's size: merged in place, as
 * Firecracker does. Otherwise it is sized afresh, so a Diff alone is a sparse layer that loads as
 * an empty guest.
 */
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, readSync, writeFileSync, writeSync, fstatSync } from 'node:fs';

export const STATE_MAGIC = 'ignition-fake-firecracker-state';
export const SNAPSHOT_VERSION = '11.0.0';
const MEM_MAGIC = Buffer.from('IGNFAKEMEM1\n', 'latin1');
const MiB = 1024 * 1024;

export interface SnapshotConfig {
  machine: { vcpu_count: number; mem_size_mib: number; smt: boolean; track_dirty_pages: boolean; huge_pages: string };
  bootSource: Record<string, unknown> | undefined;
  drives: Record<string, unknown>[];
  ifaces: Record<string, unknown>[];
  vsock: { guest_cid: number; uds_path: string } | undefined;
}

export interface GuestImage {
  /** The bundle the agent had loaded, if any. */
  bundle?: { name: string; code: string; map?: string };
}

function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Writes (truncating) the state file. */
export function writeStateFile(file: string, config: SnapshotConfig, snapshotType: string): void {
  const payload = JSON.stringify({ version: SNAPSHOT_VERSION, snapshotType, config });
  writeFileSync(file, JSON.stringify({ magic: STATE_MAGIC, crc: checksum(payload), payload }) + '\n');
}

/** Reads and verifies a state file; throws an Error whose message is Firecracker-like. */
export function readStateFile(file: string): SnapshotConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot open snapshot file: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let doc: { magic?: string; crc?: string; payload?: string };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error('Snapshot state file is corrupted: cannot deserialize the microVM state');
  }
  if (doc.magic !== STATE_MAGIC || typeof doc.payload !== 'string') {
    throw new Error('Snapshot state file is corrupted: unknown format');
  }
  if (checksum(doc.payload) !== doc.crc) throw new Error('Snapshot state file CRC mismatch');
  const payload = JSON.parse(doc.payload) as { version: string; config: SnapshotConfig };
  if (payload.version !== SNAPSHOT_VERSION) throw new Error(`Snapshot version ${payload.version} is not supported`);
  return payload.config;
}

/**
 * Writes the memory file: the guest image header, then sparse zeroes up to the guest memory size.
 * `diff`: keep a guest-sized file as it is and write the image only if `dirty`.
 */
export function writeMemoryFile(file: string, memSizeMib: number, image: GuestImage, diff?: { dirty: boolean }): void {
  const json = Buffer.from(JSON.stringify(image), 'utf8');
  const header = Buffer.alloc(MEM_MAGIC.length + 4);
  MEM_MAGIC.copy(header);
  header.writeUInt32LE(json.length, MEM_MAGIC.length);
  const size = memSizeMib * MiB;
  if (header.length + json.length > size) throw new Error('guest memory too small for the fake guest image');
  let fd: number;
  try {
    // Like Firecracker: opened without truncation; resized (to holes) only if its size differs.
    fd = openSync(file, diff ? 'r+' : 'w');
  } catch (err) {
    if (!diff || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fd = openSync(file, 'w');
  }
  try {
    if (diff && fstatSync(fd).size !== size) ftruncateSync(fd, 0);
    if (!diff || diff.dirty) {
      writeSync(fd, header, 0, header.length, 0);
      writeSync(fd, json, 0, json.length, header.length);
    }
    // Extending with ftruncate leaves a hole: the file is as large as guest memory but sparse.
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Opens the memory file as Firecracker would (read-only) and reads the guest image back. */
export function readMemoryFile(file: string, memSizeMib: number): GuestImage {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new Error(`Cannot open the memory file: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    if (fstatSync(fd).size < memSizeMib * MiB) {
      throw new Error('The memory file is smaller than the guest memory described by the snapshot');
    }
    const header = Buffer.alloc(MEM_MAGIC.length + 4);
    readSync(fd, header, 0, header.length, 0);
    if (!header.subarray(0, MEM_MAGIC.length).equals(MEM_MAGIC)) return {};
    const length = header.readUInt32LE(MEM_MAGIC.length);
    const json = Buffer.alloc(length);
    readSync(fd, json, 0, length, header.length);
    return JSON.parse(json.toString('utf8')) as GuestImage;
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error('The memory file is corrupted');
    throw err;
  } finally {
    closeSync(fd);
  }
}
