/**
 * The guest side of Firecracker's host-initiated vsock handshake, on a Unix socket.
 *
 * In a microVM the agent listens on AF_VSOCK and Firecracker's muxer performs the handshake for
 * it. Under the process driver (and behind the fake Firecracker) there is no muxer, so this
 * listener plays its part on the socket itself: read `CONNECT <port>\n`, answer `OK <n>\n` when a
 * server is registered for that port, otherwise close the stream (EOF without OK, as Firecracker
 * does), then hand the raw stream to that port's server.
 */
import net from 'node:net';
import { rmSync } from 'node:fs';

const MAX_LINE = 32;
/** Firecracker allocates host-side ports round-robin from 2^30; we imitate the range. */
let nextHostPort = 1 << 30;

export type PortServer = { emit(event: 'connection', socket: net.Socket): boolean };

/**
 * `where`: a path to bind, or `{ fd }`, a socket the host already bound and listens on (the
 * process driver's sandbox cannot write where its socket lives, so the host makes it).
 */
export function listenHandshake(where: string | { fd: number }, ports: Map<number, PortServer>): Promise<net.Server> {
  // A socket file left by a previous run makes bind fail with EADDRINUSE.
  if (typeof where === 'string') rmSync(where, { force: true });
  const server = net.createServer({ pauseOnConnect: false }, (socket) => {
    let buf: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const nl = buf.indexOf(0x0a);
      if (nl === -1) {
        if (buf.length > MAX_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const m = /^connect (\d+)$/i.exec(buf.subarray(0, nl).toString('latin1').trim());
      const target = m ? ports.get(Number(m[1])) : undefined;
      if (!target) {
        socket.end();
        return;
      }
      const rest = buf.subarray(nl + 1);
      const hostPort = nextHostPort;
      nextHostPort = nextHostPort >= 2 ** 31 - 1 ? 1 << 30 : nextHostPort + 1;
      socket.write(`OK ${hostPort}\n`);
      socket.pause();
      if (rest.length) socket.unshift(rest);
      target.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
