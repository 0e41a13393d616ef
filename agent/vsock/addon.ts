/**
 * Finds and loads the AF_VSOCK N-API addon (agent/vsock/src/vsock.c).
 *
 * The addon is built for the guest by the image builder, not at `npm install` (hosts never listen
 * on vsock), so a missing addon is an expected state on a host and gets a typed error that says
 * how to build it. Lookup order: `$IGNITION_VSOCK_ADDON`, then `vsock.node` beside the running
 * module (the image puts it next to /opt/ignition/agent.mjs), then node-gyp's output beside this
 * source file (`agent/vsock/build/Release/vsock.node`, for development and tests).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { VsockAddonMissing } from './errors.ts';

/** What vsock.c exports. Every fd it returns is non-blocking and close-on-exec. */
export interface VsockAddon {
  /** socket + bind(VMADDR_CID_ANY, port) + listen(backlog); returns the fd. */
  listen(port: number, backlog: number): number;
  /** Blocking connect bounded by timeoutMs, then non-blocking; for loopback tests only. */
  connect(cid: number, port: number, timeoutMs: number): number;
  localAddress(fd: number): { cid: number; port: number };
  /** This machine's CID from /dev/vsock, or -1 without the device. */
  localCid(): number;
  closeFd(fd: number): void;
  /** clock_settime(CLOCK_REALTIME) to `ms` since the epoch (guest only; needs CAP_SYS_TIME). */
  setRealtime(ms: number): void;
  /** Credits `bytes` to the kernel RNG and forces a CSPRNG reseed; returns the byte count. */
  addEntropy(bytes: Buffer): number;
  readonly VMADDR_CID_ANY: number;
  readonly napiVersion: number;
}

/** The command that builds the addon from a checkout (also run by the image builder). */
export const BUILD_COMMAND = 'node --import tsx agent/vsock/build.ts';

/** Where the loader looks, in order. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.IGNITION_VSOCK_ADDON) out.push(env.IGNITION_VSOCK_ADDON);
  out.push(fileURLToPath(new URL('./vsock.node', import.meta.url)));
  out.push(fileURLToPath(new URL('./build/Release/vsock.node', import.meta.url)));
  return out;
}

const loaded = new Map<string, VsockAddon>();

/**
 * Loads the addon from the first candidate path that exists (each path is loaded once).
 * Throws `vsock_addon_missing` naming every path tried and the build command.
 */
export function loadVsockAddon(candidates: string[] = addonCandidates()): VsockAddon {
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw VsockAddonMissing(
      `the AF_VSOCK addon is not built (looked in ${candidates.join(', ')}); ` +
        `build it with \`${BUILD_COMMAND}\` (needs a C compiler and Node's headers) ` +
        'or point IGNITION_VSOCK_ADDON at a built vsock.node',
      { data: { candidates, build: BUILD_COMMAND } },
    );
  }
  const hit = loaded.get(found);
  if (hit) return hit;
  const require = createRequire(import.meta.url);
  let addon: VsockAddon;
  try {
    addon = require(found) as VsockAddon;
  } catch (cause) {
    throw VsockAddonMissing(`the AF_VSOCK addon at ${found} does not load; rebuild it with \`${BUILD_COMMAND}\``, {
      data: { path: found, build: BUILD_COMMAND },
      cause,
    });
  }
  loaded.set(found, addon);
  return addon;
}
