/**
 * Adopting a foreign socket fd into libuv through Node's internal `tcp_wrap` binding.
 *
 * Node can listen on an fd only if libuv recognises its family (`server.listen({ fd })` guesses
 * the handle type and rejects AF_VSOCK). The internal TCP handle does not care: `handle.open(fd)`
 * is `uv_tcp_open`, which only makes the fd non-blocking and registers it; accept, read and write
 * are plain syscalls that work on any stream socket. `net.Server.listen(handle)` accepts such a
 * handle directly. This is internal API, so the Node major it was verified on is pinned here and
 * checked before use; a different major fails loudly instead of misbehaving.
 */
import net from 'node:net';
import { VsockNodeUnsupported } from './errors.ts';

/** The Node major whose `tcp_wrap` behaviour this module was verified against. */
export const PINNED_NODE_MAJOR = 20;

/** The slice of the internal TCP handle this module uses. */
export interface TcpHandle {
  open(fd: number): number;
  close(callback?: () => void): void;
  readonly fd: number;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number; SERVER: number };
}

/** Throws `vsock_node_unsupported` unless `version` has the pinned major. */
export function checkNodeVersion(version: string = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (major !== PINNED_NODE_MAJOR) {
    throw VsockNodeUnsupported(
      `the vsock listener adopts sockets through Node's internal tcp_wrap handle, verified on Node ` +
        `${PINNED_NODE_MAJOR}.x, but this is Node ${version}; run the agent with the Node pinned in the base ` +
        `image, or re-verify agent/vsock on Node ${major} and update PINNED_NODE_MAJOR`,
      { data: { version, pinned: PINNED_NODE_MAJOR } },
    );
  }
}

function binding(): TcpWrapBinding {
  checkNodeVersion();
  // process.binding is typed as deprecated; tcp_wrap is on its allow-list in Node 20 and emits
  // no warning. Nothing else in the agent touches internal bindings.
  const b = (process as unknown as { binding(name: string): unknown }).binding('tcp_wrap') as TcpWrapBinding;
  if (typeof b?.TCP !== 'function' || typeof b.constants?.SERVER !== 'number') {
    throw VsockNodeUnsupported(`Node ${process.versions.node} has no usable tcp_wrap binding`);
  }
  return b;
}

function openHandle(fd: number, kind: 'SERVER' | 'SOCKET'): TcpHandle {
  const b = binding();
  const handle = new b.TCP(b.constants[kind]);
  const rc = handle.open(fd);
  if (rc !== 0) {
    handle.close();
    throw Object.assign(new Error(`uv_tcp_open(fd ${fd}) failed with libuv status ${rc}`), { errno: rc });
  }
  return handle;
}

/**
 * Makes `server` (a net.Server or http.Server) listen on an already-listening socket fd of any
 * stream family. The server owns the fd afterwards: `server.close()` closes it.
 */
export function listenOnFd<S extends net.Server>(server: S, fd: number, backlog = 511): S {
  const handle = openHandle(fd, 'SERVER');
  // net.Server.listen recognises a TCP handle instance and adopts it as its _handle.
  server.listen(handle as unknown as net.ListenOptions, backlog);
  return server;
}

/** Wraps a connected stream socket fd as a net.Socket (which owns and closes the fd). */
export function socketFromFd(fd: number): net.Socket {
  const handle = openHandle(fd, 'SOCKET');
  return new net.Socket({ handle, readable: true, writable: true } as unknown as net.SocketConstructorOpts);
}

/** The fd behind a listening server's handle, or -1. */
export function serverFd(server: net.Server): number {
  const handle = (server as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}
