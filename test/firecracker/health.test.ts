/**
 * The driver's agent health check (platform/vmm/firecracker/agent.ts) against a stand-in guest on
 * a Unix socket that plays Firecracker's host-initiated vsock handshake and then answers with
 * bytes the test chooses: an answer split across writes, one without Content-Length, one cut off,
 * and a guest that reports not-ready before ready (waitForAgent retries until it is).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probeHealth, waitForAgent } from '../../platform/vmm/firecracker/agent.ts';

type Answer = (socket: net.Socket, n: number) => void;

async function guest(answer: Answer): Promise<{ path: string; requests: string[]; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fch-'));
  const sock = path.join(dir, 'v.sock');
  const requests: string[] = [];
  let n = 0;
  const server = net.createServer((s) => {
    let buf = '';
    let shook = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      if (!shook) {
        const nl = buf.indexOf('\n');
        if (nl === -1) return;
        assert.is(buf.slice(0, nl), 'CONNECT 52');
        buf = buf.slice(nl + 1);
        shook = true;
        s.write('OK 1073741824\n');
      }
      if (buf.includes('\r\n\r\n')) {
        requests.push(buf);
        answer(s, n++);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    path: sock,
    requests,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        }),
      ),
  };
}

const health = (ready: boolean) => JSON.stringify({ status: 'ok', protocol: 1, ready, pid: 7, function: { loaded: ready } });

test('one fixed request; an answer split across writes is read to its Content-Length', async () => {
  const g = await guest((s) => {
    const body = health(true);
    const head = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    s.write(head.slice(0, 10));
    setTimeout(() => s.write(head.slice(10) + body.slice(0, 5)), 5);
    setTimeout(() => s.write(body.slice(5)), 10);
  });
  try {
    const r = await probeHealth(g.path, 2000);
    assert.is(r.status, 200);
    assert.is(r.body?.ready, true);
    assert.is(g.requests[0], 'GET /v1/health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
  } finally {
    await g.close();
  }
});

test('an answer without Content-Length, or cut off, is an error naming the socket', async () => {
  const g = await guest((s, n) => {
    if (n === 0) s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    else s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status"');
  });
  try {
    await probeHealth(g.path, 2000).then(
      () => assert.unreachable('no Content-Length'),
      (err: Error) => assert.match(err.message, /unexpected health answer/),
    );
    await probeHealth(g.path, 2000).then(
      () => assert.unreachable('cut off'),
      (err: Error) => assert.match(err.message, /closed the health check without a complete answer/),
    );
  } finally {
    await g.close();
  }
});

test('waitForAgent retries a guest that is not ready yet and returns its ready health', async () => {
  const g = await guest((s, n) => {
    const body = health(n >= 2);
    s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  try {
    const h = await waitForAgent(g.path, 10_000, new Promise(() => undefined), 'vm_h');
    assert.is(h.ready, true);
    assert.is(g.requests.length, 3, 'two not-ready answers, then ready');
  } finally {
    await g.close();
  }
});

test('waitForAgent gives up at its deadline with fc_agent_unhealthy', async () => {
  const g = await guest((s) => {
    const body = health(false);
    s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  try {
    await waitForAgent(g.path, 300, new Promise(() => undefined), 'vm_h').then(
      () => assert.unreachable('never ready'),
      (err: { code?: string; message: string }) => {
        assert.is(err.code, 'fc_agent_unhealthy');
        assert.match(err.message, /ready=false/);
      },
    );
  } finally {
    await g.close();
  }
});

test.run();
