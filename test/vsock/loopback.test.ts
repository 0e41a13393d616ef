/**
 * The accept path through Node: an http.Server on AF_VSOCK answers a client that connects to the
 * loopback CID (VMADDR_CID_LOCAL = 1). Runs only where the vsock_loopback transport is loaded;
 * without it a connect to CID 1 would go to the guest-to-host transport, so the test checks for
 * the module instead of trying. Never connects to CID 2 (the host).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { dialVsock, listenVsock, VMADDR_CID_LOCAL, VMADDR_PORT_ANY, vsockAddress, type VsockAddon } from '../../agent/vsock/index.ts';
import { reportSkip } from '../support/needs.ts';
import { addonOrReason, loopbackReason, vsockListenReason } from './support.ts';

const loaded = await addonOrReason();
const skip = typeof loaded === 'string' ? loaded : (vsockListenReason(loaded) ?? loopbackReason());
reportSkip('test/vsock/loopback.test.ts', skip);
const addon = loaded as VsockAddon;
const t = skip ? test.skip : test;

t('an http.Server on vsock accepts and answers a client on CID 1', async () => {
  const server = listenVsock(VMADDR_PORT_ANY, {
    addon,
    server: http.createServer((req, res) => res.end(`hello ${req.method} ${req.url}`)),
  });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = vsockAddress(server, addon);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ path: '/v1/health', createConnection: () => dialVsock(VMADDR_CID_LOCAL, port, 2000, addon) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    assert.is(body, 'hello GET /v1/health');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

t('a connect to a CID 1 port nobody listens on is refused, not hung', () => {
  const fd = addon.listen(VMADDR_PORT_ANY, 1);
  const { port } = addon.localAddress(fd);
  addon.closeFd(fd);
  assert.throws(
    () => addon.connect(VMADDR_CID_LOCAL, port, 2000),
    (err: { code?: string }) => ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT'].includes(err.code ?? ''),
  );
});

test.run();
