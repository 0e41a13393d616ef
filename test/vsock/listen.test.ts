/**
 * A real AF_VSOCK listener on VMADDR_CID_ANY adopted by Node: bind, listen, address, port
 * conflicts, close and re-bind, fd flags, and the start-up self-test. No packet is sent: nothing
 * here connects (see loopback.test.ts for the accept path).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import {
  listenOnFd,
  listenVsock,
  selfTestVsock,
  VMADDR_CID_ANY,
  VMADDR_PORT_ANY,
  vsockAddress,
  VsockListenFailed,
  VsockPortInUse,
  type VsockAddon,
} from '../../agent/vsock/index.ts';
import { reportSkip } from '../support/needs.ts';
import { addonOrReason, randomPort, vsockListenReason } from './support.ts';

const loaded = await addonOrReason();
const skip = typeof loaded === 'string' ? loaded : vsockListenReason(loaded);
reportSkip('test/vsock/listen.test.ts', skip);
const addon = loaded as VsockAddon;
const t = skip ? test.skip : test;

function listening(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
}
function closed(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Listens on a random free port (retrying on collisions with other processes). */
async function listenRandom(server?: http.Server): Promise<{ server: net.Server; port: number }> {
  for (let i = 0; ; i++) {
    const port = randomPort();
    try {
      const s = listenVsock(port, { server, addon });
      await listening(s);
      return { server: s, port };
    } catch (err) {
      if (!VsockPortInUse.is(err) || i > 20) throw err;
    }
  }
}

t('an http.Server listens on VMADDR_CID_ANY at the given port', async () => {
  const { server, port } = await listenRandom(http.createServer((_req, res) => res.end('ok')));
  try {
    assert.ok(server instanceof http.Server);
    assert.ok(server.listening);
    assert.equal(vsockAddress(server, addon), { cid: VMADDR_CID_ANY, port });
  } finally {
    await closed(server);
  }
});

t('a second listener on the same port is vsock_port_in_use; close frees the port', async () => {
  const { server, port } = await listenRandom();
  try {
    assert.throws(
      () => listenVsock(port, { addon }),
      (err: unknown) => VsockPortInUse.is(err),
    );
  } finally {
    await closed(server);
  }
  const again = listenVsock(port, { addon });
  await listening(again);
  assert.is(vsockAddress(again, addon).port, port);
  await closed(again);
});

t('listenVsock(port, server) is accepted too, and the socket listens on return', async () => {
  const server = http.createServer();
  const returned = listenVsock(VMADDR_PORT_ANY, server);
  assert.is(returned, server);
  // Listening before the event fires: the kernel already holds the port.
  assert.is.not(vsockAddress(server, addon).port, VMADDR_PORT_ANY);
  await listening(server);
  await closed(server);
});

t('the listening fd is non-blocking and close-on-exec (exec children never inherit it)', async () => {
  const fd = addon.listen(VMADDR_PORT_ANY, 4);
  try {
    const flagsLine = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags:'));
    const flags = parseInt(flagsLine!.split(/\s+/)[1], 8);
    assert.ok(flags & 0o4000, 'O_NONBLOCK');
    assert.ok(flags & 0o2000000, 'O_CLOEXEC');
  } finally {
    addon.closeFd(fd);
  }
});

t('listenOnFd adopts a raw listening fd; the server owns and closes it', async () => {
  const fd = addon.listen(VMADDR_PORT_ANY, 4);
  const server = listenOnFd(http.createServer(), fd);
  await listening(server);
  const { port } = vsockAddress(server, addon);
  assert.is.not(port, VMADDR_PORT_ANY);
  await closed(server);
  // The fd is closed: the port is free again.
  const again = addon.listen(port, 1);
  addon.closeFd(again);
});

t('the start-up self-test listens on a kernel-chosen port and closes it', async () => {
  const result = await selfTestVsock(addon);
  assert.is(result.node, process.versions.node);
  assert.ok(result.port > 0 && result.port < VMADDR_PORT_ANY);
  assert.ok(Number.isInteger(result.cid) && result.cid >= -1, `local CID ${result.cid}`);
});

t('an invalid port is a typed error before any syscall', () => {
  for (const port of [-1, 1.5, 2 ** 32, Number.NaN]) {
    assert.throws(
      () => listenVsock(port, { addon }),
      (err: unknown) => VsockListenFailed.is(err),
    );
  }
});

test.run();
