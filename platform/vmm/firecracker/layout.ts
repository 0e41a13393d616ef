/**
 * Where a VM's files live as seen from the host and from Firecracker. Without the jailer the VM's
 * working directory is its workspace and Firecracker sees host paths as they are. With the jailer
 * it is the chroot root; files outside must be staged into it (hard links), and paths handed to
 * the API are relative to that root. Drive and vsock paths are always relative ("rootfs.ext4",
 * "v.sock") so a snapshot taken in one workspace restores in any other.
 */
import { chownSync, copyFileSync, linkSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { FcConfigInvalid } from './errors.ts';
import { jailRoot, type JailerOptions } from './jailer.ts';

/** Linux `sun_path` holds 108 bytes including the terminator. */
const SUN_PATH_MAX = 107;

export const FILES = {
  apiSocket: 'api.sock',
  vsock: 'v.sock',
  rootfs: 'rootfs.ext4',
  log: 'firecracker.log',
  metrics: 'metrics.json',
  console: 'console.log',
  /** Jailer mode: a symlink to the jail's directory, so a daemon reaping a crashed run finds it. */
  jail: 'jail.link',
} as const;

export interface Layout {
  /** The workspace (host path) the platform owns for this VM. */
  workspace: string;
  /** The VMM's working directory on the host (workspace, or the chroot root). */
  root: string;
  /** Host path of the API socket. */
  apiSocket: string;
  /** Value of `--api-sock`. */
  apiSockArg: string;
  /** Host path of the vsock Unix socket. */
  vsock: string;
  jailed: boolean;
  /**
   * Makes a host file visible to the VMM; returns the path to give the API. Read-only use: a hard
   * link shares the inode (and owner) of a registry file, so only a copy is handed to the jail's uid.
   */
  stage(hostFile: string, name: string, options?: { noCopy?: boolean }): string;
  /** Hands a file the VMM writes (its disk clone) to the jail's uid/gid; nothing in direct mode. */
  own(file: string): void;
  /** Removes what the layout created outside the workspace (the jail). */
  dispose(): void;
}

function checkSocketPath(p: string): void {
  if (Buffer.byteLength(p) > SUN_PATH_MAX) {
    throw FcConfigInvalid(`socket path ${p} is longer than the ${SUN_PATH_MAX} bytes a Unix socket address holds; use a shorter data directory`);
  }
}

/** The layout of a VM run directly (no jailer): everything in the workspace. */
export function directLayout(workspace: string): Layout {
  const apiSocket = path.join(workspace, FILES.apiSocket);
  const vsock = path.join(workspace, FILES.vsock);
  checkSocketPath(apiSocket);
  checkSocketPath(`${vsock}_4294967295`);
  return {
    workspace,
    root: workspace,
    apiSocket,
    apiSockArg: apiSocket,
    vsock,
    jailed: false,
    stage: (hostFile) => path.resolve(hostFile),
    own: () => undefined,
    dispose: () => undefined,
  };
}

/** The layout of a jailed VM: the chroot root under the jailer's base directory. */
export function jailedLayout(workspace: string, jailer: JailerOptions, firecrackerBinary: string, vmId: string): Layout {
  const root = jailRoot(jailer, firecrackerBinary, vmId);
  const apiSocket = path.join(root, 'run', 'firecracker.socket');
  const vsock = path.join(root, FILES.vsock);
  checkSocketPath(apiSocket);
  checkSocketPath(`${vsock}_4294967295`);
  mkdirSync(path.join(root, 'run'), { recursive: true });
  const link = path.join(workspace, FILES.jail);
  rmSync(link, { force: true });
  symlinkSync(path.dirname(root), link);
  return {
    workspace,
    root,
    apiSocket,
    apiSockArg: '/run/firecracker.socket',
    vsock,
    jailed: true,
    stage(hostFile, name, options = {}) {
      const dst = path.join(root, name);
      rmSync(dst, { force: true });
      try {
        // Registry files are 0444: readable by the jail's uid through the link, owner unchanged.
        linkSync(hostFile, dst);
      } catch (err) {
        // A hard link needs the same filesystem; only small files may fall back to a copy.
        if (options.noCopy) {
          throw FcConfigInvalid(
            `cannot hard-link ${hostFile} into the jail ${root} (${(err as NodeJS.ErrnoException).code}); put the jailer base on the data directory's filesystem`,
          );
        }
        copyFileSync(hostFile, dst);
        chownSync(dst, jailer.uid, jailer.gid);
      }
      return name;
    },
    own: (file) => chownSync(file, jailer.uid, jailer.gid),
    dispose() {
      // <base>/<exec>/<id>/root → remove <base>/<exec>/<id>
      rmSync(path.dirname(root), { recursive: true, force: true });
    },
  };
}
