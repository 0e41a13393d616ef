/**
 * Turns a staged directory into an ext4 image with `mke2fs -d`, which needs no root and no loop
 * device. Everything mke2fs would otherwise pick at random or from the clock is pinned: the UUID
 * (-U) and directory hash seed (-E hash_seed) are derived from the inputs' digest, timestamps
 * come from E2FSPROGS_FAKE_TIME / SOURCE_DATE_EPOCH, and the feature set comes from our own
 * mke2fs.conf rather than the host's, so the same inputs give the same bytes on the same
 * e2fsprogs. The features are the ones guest kernels 5.10+ mount (no orphan_file).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ImageTooSmall, ImageToolFailed } from './errors.ts';
import { requireTool, runTool } from './tools.ts';

const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 0

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

export interface Ext4Options {
  /** The staged root directory. */
  dir: string;
  /** Where to write (the caller renames it into place). */
  outFile: string;
  sizeMiB: number;
  /** Hex digest the UUID and hash seed derive from. */
  seed: string;
  /** Seconds since the epoch for every timestamp mke2fs writes. */
  epoch: number;
  label?: string;
  /** Directory for mke2fs.conf. */
  workDir: string;
  searchPath?: string;
}

/** A UUID-formatted string from 16 bytes of sha256(seed + salt). Pure. */
export function derivedUuid(seed: string, salt: string): string {
  const h = createHash('sha256').update(`${seed}\0${salt}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The mke2fs arguments for `options` (pure, for tests and for the log). */
export function mke2fsArgs(options: Ext4Options): string[] {
  return [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-L',
    options.label ?? 'ignition-base',
    '-U',
    derivedUuid(options.seed, 'uuid'),
    '-E',
    `hash_seed=${derivedUuid(options.seed, 'hash_seed')},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0`,
    '-d',
    options.dir,
    options.outFile,
    `${options.sizeMiB}M`,
  ];
}

/**
 * mke2fs -d copies each file's ctime from the staging tree, and a ctime cannot be set from user
 * space, so after mke2fs the ctimes of `paths` are pinned to `epoch` with `debugfs -w` (which
 * also needs no root). Paths must not contain whitespace.
 */
export async function pinCtimes(image: string, paths: string[], epoch: number, workDir: string, searchPath?: string): Promise<void> {
  const debugfs = requireTool('debugfs', searchPath);
  const cmds = path.join(workDir, 'debugfs-ctime.cmds');
  writeFileSync(cmds, ['/', ...paths, '/lost+found'].map((p) => `sif ${p} ctime @${epoch}\n`).join(''));
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(epoch), SOURCE_DATE_EPOCH: String(epoch) };
  const { stderr } = await runTool(debugfs, ['-w', '-f', cmds, image], { env });
  // debugfs reports per-command failures on stderr but exits 0.
  const failed = stderr.split('\n').filter((l) => /not found|error|invalid/i.test(l));
  if (failed.length) throw ImageToolFailed(`debugfs could not pin ctimes in ${image}: ${failed.slice(0, 3).join('; ')}`);
}

/** Runs mke2fs; a full filesystem becomes `image_too_small`. */
export async function makeExt4(options: Ext4Options): Promise<void> {
  const mke2fs = requireTool('mke2fs', options.searchPath);
  const conf = path.join(options.workDir, 'mke2fs.conf');
  writeFileSync(conf, MKE2FS_CONF);
  const env = {
    ...process.env,
    MKE2FS_CONFIG: conf,
    E2FSPROGS_FAKE_TIME: String(options.epoch),
    SOURCE_DATE_EPOCH: String(options.epoch),
  };
  try {
    await runTool(mke2fs, mke2fsArgs(options), { env });
  } catch (err) {
    if (ImageToolFailed.is(err) && /no space|could not allocate|not enough space|too many inodes/i.test(err.message)) {
      throw ImageTooSmall(`${options.sizeMiB} MiB cannot hold the contents of ${options.dir}; raise sizeMiB`, {
        data: { sizeMiB: options.sizeMiB },
        cause: err,
      });
    }
    throw err;
  }
}
