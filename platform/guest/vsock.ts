/**
 * Host side of Firecracker's vsock handshake over a Unix socket.
 *
 * Firecracker exposes a guest's vsock device to the host as a Unix socket (`uds_path`). To reach a
 * guest port the host connects, writes `CONNECT <port>\n` and reads `OK <host_port>\n`; after that
 * line the stream carries raw guest bytes. The process driver's agent speaks the same handshake on
 * its Unix socket, so this one function serves both drivers.
 *
 * Rules from Firecracker's muxer (docs/FIRECRACKER-DRIVER.md, "vsock from the host"):
 *  - the command must arrive in ONE write: the muxer reads it non-blocking and drops the
 *    connection on a short first chunk;
 *  - EOF before `OK` means nothing listens on that guest port;
 *  - the `OK` line and the first guest bytes may arrive in one read, so anything after the first
 *    `\n` is pushed back into the stream for the next reader.
 */
import net from 'node:net';
import { defineError } from '../errors.ts';

export const VsockRefused = defineError('vsock_refused', 502, 'Guest port refused the connection', 'connect');
export const VsockTimeout = defineError('vsock_timeout', 504, 'Guest connection timed out', 'connect');
export const VsockFailed = defineError('vsock_failed', 502, 'Guest connection failed', 'connect');

/** The longest handshake reply we accept: `OK 2147483647\n` is 14 bytes; Firecracker's buffer is 32. */
const MAX_REPLY = 32;

export interface VsockConnectOptions {
  /** Gives up (and destroys the socket) after this many milliseconds. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Connects to `port` in the guest behind `udsPath`; resolves with the raw stream after `OK`. */
export function connectVsock(udsPath: string, port: number, options: VsockConnectOptions = {}): Promise<net.Socket> {
  const { timeoutMs = 2000, signal } = options;
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) {
    return Promise.reject(VsockFailed(`vsock port ${port} is not a 32-bit unsigned integer`));
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(udsPath);
    let reply: Buffer = Buffer.alloc(0);
    let settled = false;

    const timer = setTimeout(() => fail(VsockTimeout(`no handshake reply from ${udsPath} port ${port} within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => fail(VsockFailed(`connection to ${udsPath} port ${port} was aborted`, { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });

    function cleanup() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    }
    function fail(err: Error) {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onError(err: NodeJS.ErrnoException) {
      fail(VsockFailed(`cannot connect to ${udsPath}: ${err.code ?? err.message}`, { cause: err, data: { path: udsPath, port } }));
    }
    function onEnd() {
      fail(VsockRefused(`nothing listens on guest port ${port} behind ${udsPath}`, { data: { path: udsPath, port } }));
    }
    function onData(chunk: Buffer) {
      reply = reply.length === 0 ? chunk : Buffer.concat([reply, chunk]);
      const nl = reply.indexOf(0x0a);
      if (nl === -1) {
        if (reply.length > MAX_REPLY) fail(VsockFailed(`handshake reply from ${udsPath} is too long`));
        return;
      }
      const line = reply.subarray(0, nl).toString('latin1');
      if (!/^OK \d+$/.test(line)) {
        fail(VsockFailed(`unexpected handshake reply ${JSON.stringify(line)} from ${udsPath} port ${port}`));
        return;
      }
      settled = true;
      cleanup();
      socket.pause();
      const rest = reply.subarray(nl + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    }

    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('data', onData);
    // One write: the command line must not be split (see header).
    socket.once('connect', () => socket.write(`CONNECT ${port}\n`));
  });
}
