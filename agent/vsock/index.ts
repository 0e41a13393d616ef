/**
 * AF_VSOCK for the guest agent: `listenVsock(52, { server })` makes an http.Server (or any
 * net.Server) accept connections on vsock port 52 of the guest.
 *
 * The socket is created by a tiny N-API addon (./src/vsock.c, loaded by ./addon.ts) and adopted
 * into libuv through Node's internal `tcp_wrap` handle (./tcp-wrap.ts), so accept, read, write
 * and close all run on Node's event loop exactly like TCP. Because that adoption relies on
 * internals, the agent calls `selfTestVsock()` at start-up: it checks the pinned Node major, loads
 * the addon, listens on a kernel-chosen port, reads the address back and closes it, so a broken
 * image fails at boot with a named cause instead of hanging the first invocation.
 */
import net from 'node:net';
import { loadVsockAddon, type VsockAddon } from './addon.ts';
import { VsockListenFailed, VsockPortInUse, VsockSelfTestFailed, VsockUnavailable } from './errors.ts';
import { checkNodeVersion, listenOnFd, serverFd, socketFromFd } from './tcp-wrap.ts';

export { addonCandidates, BUILD_COMMAND, loadVsockAddon, type VsockAddon } from './addon.ts';
export { checkNodeVersion, listenOnFd, PINNED_NODE_MAJOR } from './tcp-wrap.ts';
export * from './errors.ts';

/** Listen on any CID (the guest's own, whatever it is after a restore). */
export const VMADDR_CID_ANY = 0xffffffff;
/** Bind to a port the kernel chooses. */
export const VMADDR_PORT_ANY = 0xffffffff;
/** The loopback CID; works only where the kernel has the vsock_loopback transport. */
export const VMADDR_CID_LOCAL = 1;

export interface ListenVsockOptions<S extends net.Server> {
  /** The server to attach (an http.Server for the agent); a bare net.Server when omitted. */
  server?: S;
  backlog?: number;
  /** Injected for tests; defaults to the loaded addon. */
  addon?: VsockAddon;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) {
    throw VsockListenFailed(`vsock port ${port} is not a 32-bit unsigned integer`, { data: { port } });
  }
}

/** Maps an addon errno to the typed error a caller can branch on. */
function mapListenError(err: unknown, port: number): Error {
  const code = (err as { code?: string }).code;
  const data = { port, errno: code };
  if (code === 'EAFNOSUPPORT' || code === 'ENODEV') {
    return VsockUnavailable(`cannot listen on vsock port ${port}: this kernel has no AF_VSOCK transport (guest kernels need CONFIG_VIRTIO_VSOCKETS=y)`, {
      data,
      cause: err,
    });
  }
  if (code === 'EADDRINUSE') return VsockPortInUse(`vsock port ${port} is already bound on this machine`, { data, cause: err });
  const hint = code === 'EACCES' ? ' (ports below 1024 need CAP_NET_BIND_SERVICE)' : '';
  return VsockListenFailed(`cannot listen on vsock port ${port}: ${(err as Error).message}${hint}`, { data, cause: err });
}

/**
 * Creates a listening AF_VSOCK socket on VMADDR_CID_ANY:`port` and attaches it to a server. The
 * server emits 'listening' on the next tick as with any listen(); `server.close()` closes the fd.
 * The socket is already listening when this returns (only the event is deferred).
 * Throws synchronously (`vsock_unavailable`, `vsock_port_in_use`, `vsock_listen_failed`,
 * `vsock_addon_missing`, `vsock_node_unsupported`) when the socket cannot be created.
 */
export function listenVsock<S extends net.Server = net.Server>(port: number, optionsOrServer: ListenVsockOptions<S> | S = {}): S {
  // `listenVsock(port, server)` is accepted too, the shape agent/main.ts calls.
  const options: ListenVsockOptions<S> = optionsOrServer instanceof net.Server ? { server: optionsOrServer } : optionsOrServer;
  checkPort(port);
  checkNodeVersion();
  const addon = options.addon ?? loadVsockAddon();
  const backlog = options.backlog ?? 511;
  let fd: number;
  try {
    fd = addon.listen(port, backlog);
  } catch (err) {
    throw mapListenError(err, port);
  }
  const server = options.server ?? (net.createServer() as S);
  try {
    return listenOnFd(server, fd, backlog);
  } catch (err) {
    addon.closeFd(fd);
    throw VsockListenFailed(`cannot adopt the vsock listener on port ${port} into Node: ${(err as Error).message}`, {
      data: { port },
      cause: err,
    });
  }
}

/** The bound `{ cid, port }` of a server made by listenVsock (cid is VMADDR_CID_ANY). */
export function vsockAddress(server: net.Server, addon: VsockAddon = loadVsockAddon()): { cid: number; port: number } {
  const fd = serverFd(server);
  if (fd < 0) throw VsockListenFailed('the server is not listening on a vsock socket');
  return addon.localAddress(fd);
}

/**
 * Connects to `cid:port` and returns a net.Socket. The connect blocks the thread for at most
 * `timeoutMs`; meant for loopback tests (CID 1). Production guests never dial out over vsock.
 */
export function dialVsock(cid: number, port: number, timeoutMs = 2000, addon: VsockAddon = loadVsockAddon()): net.Socket {
  checkNodeVersion();
  return socketFromFd(addon.connect(cid, port, timeoutMs));
}

/**
 * Sets the guest's wall clock (CLOCK_REALTIME) to `ms` since the epoch: after a restore the guest
 * wakes with the snapshot's time. Guest only; never call it on a host.
 */
export function setGuestClock(ms: number, addon: VsockAddon = loadVsockAddon()): void {
  addon.setRealtime(ms);
}

/**
 * Credits host-provided random bytes to the guest kernel's pool and forces a CSPRNG reseed, so
 * clones of one snapshot stop sharing kernel RNG state. Returns the bytes credited. Guest only.
 */
export function addGuestEntropy(bytes: Buffer, addon: VsockAddon = loadVsockAddon()): number {
  return addon.addEntropy(bytes);
}

/**
 * Start-up self-test: pinned Node, addon loads, a listener on a kernel-chosen port is adopted by
 * Node, reports its address and closes. Resolves with what it saw; rejects with a typed error.
 */
export async function selfTestVsock(addon?: VsockAddon): Promise<{ node: string; cid: number; port: number }> {
  const server = listenVsock(VMADDR_PORT_ANY, { backlog: 1, addon });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = vsockAddress(server, addon);
    const localCid = (addon ?? loadVsockAddon()).localCid();
    if (address.port === VMADDR_PORT_ANY) throw new Error('the kernel did not assign a port');
    return { node: process.versions.node, cid: localCid, port: address.port };
  } catch (err) {
    throw VsockSelfTestFailed(`the vsock self-test failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
