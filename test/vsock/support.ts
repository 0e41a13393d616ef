/**
 * What this host's kernel allows for AF_VSOCK, probed without sending a packet anywhere: a listen
 * on a kernel-chosen port (never a connect), and the presence of the loopback transport, which is
 * the only way a test may connect (to CID 1). Without vsock_loopback a connect to CID 1 would be
 * handed to the guest-to-host transport, so tests must not try it "to see".
 */
import { existsSync, readFileSync } from 'node:fs';
import { ensureVsockAddon, nodeHeadersDir } from '../../agent/vsock/build.ts';
import { loadVsockAddon, type VsockAddon } from '../../agent/vsock/index.ts';

/** Builds and loads the addon, or returns why it cannot. */
export async function addonOrReason(): Promise<VsockAddon | string> {
  if (!nodeHeadersDir()) return 'needs the headers of this Node (include/node/node_api.h): apt-get install -y libnode-dev';
  try {
    return loadVsockAddon([await ensureVsockAddon()]);
  } catch (err) {
    return `the vsock addon did not build: ${(err as Error).message} (run: node --import tsx agent/vsock/build.ts)`;
  }
}

/** null when AF_VSOCK sockets can listen here, else the reason. */
export function vsockListenReason(addon: VsockAddon): string | null {
  try {
    addon.closeFd(addon.listen(0xffffffff, 1));
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return `this kernel cannot listen on AF_VSOCK (${code}): run on a Linux with vsock (modprobe vsock_loopback, or inside a microVM with virtio-vsock)`;
  }
}

/** null when the vsock loopback transport (CID 1) is loaded, else the reason. */
export function loopbackReason(): string | null {
  if (existsSync('/sys/module/vsock_loopback')) return null;
  try {
    // Built-in transports without parameters have no /sys/module entry; their init symbol shows.
    if (/\svsock_loopback_init\b/.test(readFileSync('/proc/kallsyms', 'utf8'))) return null;
  } catch {
    /* no kallsyms: treat as absent */
  }
  return 'needs the vsock loopback transport for CID 1: modprobe vsock_loopback (kernel CONFIG_VSOCKETS_LOOPBACK)';
}

/** A port in the dynamic range, different per run so parallel test processes rarely collide. */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 40000);
}
