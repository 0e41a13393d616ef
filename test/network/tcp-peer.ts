/**
 * A tiny TCP peer run inside a test namespace (via nsenter) by the network tests.
 *   listen <host>                   prints {"port":N}, then for each connection writes the peer's
 *                                   address back as a line and closes it, and prints it as {"from":…}
 *   connect <host> <port> <ms>      prints {"ok":true,"reply":"…"} or {"ok":false,"code":"…"}
 */
import net from 'node:net';

const [mode, host, portText, msText] = process.argv.slice(2);

if (mode === 'listen') {
  const server = net.createServer((sock) => {
    const from = sock.remoteAddress ?? '?';
    console.log(JSON.stringify({ from }));
    sock.end(`${from}\n`);
  });
  server.listen(0, host, () => console.log(JSON.stringify({ port: (server.address() as net.AddressInfo).port })));
} else if (mode === 'connect') {
  const sock = net.connect({ host, port: Number(portText) });
  let reply = '';
  // Bounds how long a dropped SYN is waited for; the tests assert on the outcome, not the time.
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ ok: false, code: 'TIMEOUT' }));
    process.exit(0);
  }, Number(msText));
  sock.on('data', (d) => (reply += d));
  sock.on('end', () => {
    clearTimeout(timer);
    console.log(JSON.stringify({ ok: true, reply: reply.trim() }));
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    console.log(JSON.stringify({ ok: false, code: err.code ?? err.message }));
  });
} else {
  console.error('usage: tcp-peer listen <host> | connect <host> <port> <ms>');
  process.exit(2);
}
