/**
 * buildBaseImage: the guest's root filesystem as one ext4 file, built without root.
 *
 * Steps, each logged with its duration: resolve inputs (Node, its libraries per ldd, the agent
 * bundle, the vsock addon, a static /sbin/init) → optionally lay a Debian minbase underneath
 * (mmdebstrap, behind `debian`) → stage the tree deterministically → `mke2fs -d` into a temp file
 * beside `outFile` → fsync → rename into place → digest. A failure at any step removes the temp
 * file and the staging directory, so `outFile` is either the previous image or the new one, never
 * half of one. The digest is what the registry imports the image under.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, fsyncSync, closeSync, renameSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PINNED_NODE_MAJOR } from '../../agent/vsock/tcp-wrap.ts';
import { ImageInputMissing, ImageInvalidOption, ImageTooSmall } from './errors.ts';
import { derivedUuid, makeExt4, pinCtimes } from './ext4.ts';
import { compileInit } from './init.ts';
import { sharedLibraries } from './ldd.ts';
import { requireTool, runTool } from './tools.ts';
import { materialise, planTree, type Plan } from './tree.ts';

/** 2024-01-01T00:00:00Z: the timestamp of every file when SOURCE_DATE_EPOCH is not set. */
export const DEFAULT_EPOCH = 1704067200;

export interface BuildBaseImageOptions {
  /** Where the image ends up (written atomically). */
  outFile: string;
  /** The agent bundle (dist/agent.mjs from `npm run build`); its `.map` is taken along if present. */
  agentBundle: string;
  /** Scratch space for staging (a subdirectory is created and removed). */
  workDir: string;
  /** Size of the filesystem in MiB (the file is sparse). */
  sizeMiB: number;
  /** The Node to ship (default: the one running this build). Must be the major agent/vsock pins. */
  nodeBinary?: string;
  /** A built vsock.node (default: build agent/vsock with node-gyp). */
  vsockAddon?: string;
  /** A prebuilt static init (default: compile platform/image/init/init.c). */
  initBinary?: string;
  /** More files: image path → host path. */
  extraFiles?: Record<string, string>;
  /**
   * Host programs copied to /usr/sbin with the libraries they load (default ['ip']: the agent
   * re-addresses the network after a restore with `ip`). Missing ones are `image_tool_missing`.
   */
  binaries?: string[];
  /** Timestamp of every file, in seconds (default: $SOURCE_DATE_EPOCH, else DEFAULT_EPOCH). */
  epoch?: number;
  /** Lay a Debian minbase under the tree with mmdebstrap (network to a mirror needed). */
  debian?: { suite: string; mirror?: string };
  /** Keep the staged tree and report its path (for inspection). */
  keepTree?: boolean;
  /** PATH used to find tools (tests pass a reduced one). */
  searchPath?: string;
  log?: (step: string, ms: number) => void;
}

export interface BaseImage {
  path: string;
  /** `sha256:<hex>` of the image file's bytes. */
  digest: string;
  /** Apparent size of the file (sizeMiB MiB). */
  sizeBytes: number;
  /** Bytes of file contents in the tree. */
  contentBytes: number;
  uuid: string;
  nodeVersion: string;
  files: number;
  tree?: string;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A digest of the plan: paths, modes and contents; the UUID and hash seed derive from it. */
async function planDigest(plan: Plan, extra: string): Promise<string> {
  const hash = createHash('sha256').update(extra);
  for (const p of [...plan.keys()].sort()) {
    const e = plan.get(p)!;
    hash.update(`${p}\0${e.kind}\0${e.mode.toString(8)}\0`);
    if (e.kind === 'file') hash.update(await sha256File(e.source));
    if (e.kind === 'text') hash.update(e.content);
  }
  return hash.digest('hex');
}

function nodeVersionOf(binary: string): string {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
  } catch (cause) {
    throw ImageInputMissing(`the Node binary ${binary} does not run`, { data: { binary }, cause });
  }
}

async function timed<T>(log: BuildBaseImageOptions['log'], step: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  log?.(step, Math.round(performance.now() - t0));
  return out;
}

/** Builds the base image; see the module header for the steps and guarantees. */
export async function buildBaseImage(options: BuildBaseImageOptions): Promise<BaseImage> {
  const { outFile, workDir, sizeMiB, log } = options;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 16) throw ImageInvalidOption(`sizeMiB must be an integer ≥ 16, got ${sizeMiB}`);
  const epoch = options.epoch ?? (process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : DEFAULT_EPOCH);
  if (!Number.isInteger(epoch) || epoch < 0) throw ImageInvalidOption(`epoch must be a non-negative integer, got ${epoch}`);
  // Fail on missing tools before any work.
  requireTool('mke2fs', options.searchPath);
  requireTool('debugfs', options.searchPath);
  if (!existsSync(options.agentBundle)) {
    throw ImageInputMissing(`the agent bundle ${options.agentBundle} does not exist; build it with \`npm run build\``, {
      data: { agentBundle: options.agentBundle },
    });
  }
  const nodeBinary = options.nodeBinary ?? process.execPath;
  const nodeVersion = nodeVersionOf(nodeBinary);
  if (Number(nodeVersion.split('.')[0]) !== PINNED_NODE_MAJOR) {
    throw ImageInvalidOption(`the image needs Node ${PINNED_NODE_MAJOR}.x (agent/vsock is verified on it), but ${nodeBinary} is ${nodeVersion}`, {
      data: { nodeBinary, nodeVersion, pinned: PINNED_NODE_MAJOR },
    });
  }

  mkdirSync(workDir, { recursive: true });
  mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
  const scratch = mkdtempSync(path.join(workDir, 'image-'));
  const tree = path.join(scratch, 'root');
  const partial = `${outFile}.partial-${process.pid}-${path.basename(scratch)}`;
  let ok = false;
  try {
    const binaries = Object.fromEntries((options.binaries ?? ['ip']).map((b) => [`/usr/sbin/${b}`, requireTool(b)]));
    const libraries = await timed(log, 'ldd', async () => {
      const all = new Set(await sharedLibraries(nodeBinary));
      for (const bin of Object.values(binaries)) for (const lib of await sharedLibraries(bin)) all.add(lib);
      return [...all].sort();
    });
    const vsockAddon = options.vsockAddon ?? (await timed(log, 'vsock-addon', async () => (await import('../../agent/vsock/build.ts')).ensureVsockAddon()));
    const initBinary = options.initBinary ?? (await timed(log, 'init', () => compileInit(path.join(scratch, 'init'), options.searchPath)));
    const extraFiles = { ...binaries, ...options.extraFiles };
    if (existsSync(`${options.agentBundle}.map`)) extraFiles['/opt/ignition/agent.mjs.map'] = `${options.agentBundle}.map`;
    const plan = planTree({
      nodeBinary,
      libraries,
      agentBundle: options.agentBundle,
      vsockAddon,
      initBinary,
      extraFiles,
      release: { name: 'ignition-base', node: nodeVersion, epoch, vsockPort: 52 },
    });
    mkdirSync(tree);
    if (options.debian) await timed(log, 'mmdebstrap', () => debianBase(tree, options.debian!, epoch, options.searchPath));
    const contentBytes = await timed(log, 'stage', () => materialise(plan, tree, epoch));
    // Room for metadata, the journal and some free space for the guest's own writes.
    const neededMiB = Math.ceil((contentBytes * 1.1) / 2 ** 20) + 24;
    if (sizeMiB < neededMiB) {
      throw ImageTooSmall(`${sizeMiB} MiB cannot hold ${Math.ceil(contentBytes / 2 ** 20)} MiB of contents; use at least ${neededMiB}`, {
        data: { sizeMiB, neededMiB, contentBytes },
      });
    }
    const seed = await timed(log, 'digest-inputs', () => planDigest(plan, `${sizeMiB}\0${epoch}\0${options.debian?.suite ?? ''}`));
    await timed(log, 'mke2fs', () => makeExt4({ dir: tree, outFile: partial, sizeMiB, seed, epoch, workDir: scratch, searchPath: options.searchPath }));
    await timed(log, 'pin-ctimes', () => pinCtimes(partial, [...plan.keys()].sort(), epoch, scratch, options.searchPath));
    const fd = openSync(partial, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(partial, outFile);
    ok = true;
    const digest = await timed(log, 'digest-image', () => sha256File(outFile));
    return {
      path: outFile,
      digest: `sha256:${digest}`,
      sizeBytes: statSync(outFile).size,
      contentBytes,
      uuid: derivedUuid(seed, 'uuid'),
      nodeVersion,
      files: [...plan.values()].filter((e) => e.kind !== 'dir').length,
      tree: options.keepTree ? tree : undefined,
    };
  } finally {
    if (!ok) rmSync(partial, { force: true });
    if (!(ok && options.keepTree)) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Optional Debian minbase under the tree (rootless via mmdebstrap's unshare mode where needed). */
async function debianBase(tree: string, debian: { suite: string; mirror?: string }, epoch: number, searchPath?: string): Promise<void> {
  const mmdebstrap = requireTool('mmdebstrap', searchPath);
  const args = ['--variant=minbase', '--mode=auto', '--skip=output/mknod', '--format=directory', debian.suite, tree];
  if (debian.mirror) args.push(debian.mirror);
  await runTool(mmdebstrap, args, { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
}
