/**
 * The API client against the fake Firecracker's HTTP layer (in-process, real Unix socket): the
 * bytes the client puts on the wire, how it reads 204s without Content-Length, and how each failure
 * becomes a typed `fc_` error carrying method, path, status and message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerClient } from '../../platform/vmm/firecracker/api/client.ts';
import { parseErrorBody } from '../../platform/vmm/firecracker/api/http.ts';
import { IgnitionError } from '../../platform/errors.ts';
import { startFake, type RunningFake } from '../fakes/firecracker/server.ts';
import { rawExchange, readTrace, request, responses } from './support.ts';

interface Env {
  dir: string;
  sock: string;
  fake: RunningFake;
  client: FirecrackerClient;
  wire: Buffer[];
  trace: string;
  exits: number[];
}

async function setup(options: { fault?: string; timeoutMs?: number } = {}): Promise<Env> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcc-'));
  writeFileSync(path.join(dir, 'vmlinux'), 'k');
  const sock = path.join(dir, 'api.sock');
  const wire: Buffer[] = [];
  const trace = path.join(dir, 'trace.jsonl');
  const exits: number[] = [];
  const fake = await startFake({
    apiSock: sock,
    cwd: dir,
    traceFile: trace,
    onBytes: (b) => wire.push(Buffer.from(b)),
    fault: options.fault,
    exit: (c) => exits.push(c),
  });
  const client = new FirecrackerClient({ socketPath: sock, timeoutMs: options.timeoutMs ?? 10_000 });
  return { dir, sock, fake, client, wire, trace, exits };
}

async function teardown(e: Env) {
  await e.client.destroy();
  await e.fake.close();
  rmSync(e.dir, { recursive: true, force: true });
}

async function expectError(p: Promise<unknown>, code: string): Promise<IgnitionError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, IgnitionError);
    assert.is((err as IgnitionError).code, code, (err as Error).message);
    return err as IgnitionError;
  }
  throw new Error(`expected ${code}, got success`);
}

test('PUT goes out framed by Content-Length, never chunked; 204 without Content-Length is read', async () => {
  const e = await setup();
  try {
    await e.client.putBootSource({ kernel_image_path: 'vmlinux', boot_args: 'console=ttyS0' });
    const sent = Buffer.concat(e.wire).toString('latin1');
    const head = sent.slice(0, sent.indexOf('\r\n\r\n'));
    const body = sent.slice(sent.indexOf('\r\n\r\n') + 4);
    assert.match(head, /^PUT \/boot-source HTTP\/1\.1\r\n/);
    assert.match(head, new RegExp(`\r\ncontent-length: ${Buffer.byteLength(body)}(\r\n|$)`, 'i'));
    assert.not.match(head, /transfer-encoding/i);
    assert.equal(JSON.parse(body), { kernel_image_path: 'vmlinux', boot_args: 'console=ttyS0' });
    // The keep-alive connection stays usable after a 204 with no length (a read-to-EOF client hangs here).
    const info = await e.client.describeInstance();
    assert.is(info.state, 'Not started');
    assert.is(info.app_name, 'Firecracker');
  } finally {
    await teardown(e);
  }
});

test('GET requests carry no body and no Content-Length', async () => {
  const e = await setup();
  try {
    await e.client.version();
    const sent = Buffer.concat(e.wire).toString('latin1');
    assert.match(sent, /^GET \/version HTTP\/1\.1\r\n/);
    assert.ok(sent.endsWith('\r\n\r\n'), 'nothing after the head');
  } finally {
    await teardown(e);
  }
});

test('fault_message becomes fc_api_fault with method, path, status and message', async () => {
  const e = await setup();
  try {
    const err = await expectError(e.client.putBootSource({ kernel_image_path: 'missing-kernel' }), 'fc_api_fault');
    assert.is(err.data.method, 'PUT');
    assert.is(err.data.path, '/boot-source');
    assert.is(err.data.status, 400);
    assert.match(String(err.data.message), /kernel file cannot be opened/);
    const pre = await expectError(e.client.pause(), 'fc_api_fault');
    assert.is(pre.data.message, 'The requested operation is not supported before starting the microVM.');
  } finally {
    await teardown(e);
  }
});

test('the transport error body (raw newline, not JSON) is parsed defensively', () => {
  const body = '{ "error": "Invalid HTTP Method: POST\nAll previous unanswered requests will be dropped." }';
  assert.throws(() => JSON.parse(body));
  assert.equal(parseErrorBody(body), { kind: 'transport', message: 'Invalid HTTP Method: POST\nAll previous unanswered requests will be dropped.' });
  assert.equal(parseErrorBody('{"fault_message":"boom"}'), { kind: 'fault', message: 'boom' });
  assert.equal(parseErrorBody('garbage'), { kind: 'unknown', message: 'garbage' });
});

test('a body over 51200 bytes is refused before sending', async () => {
  const e = await setup();
  try {
    const err = await expectError(e.client.putBootSource({ kernel_image_path: 'vmlinux', boot_args: 'x'.repeat(52_000) }), 'fc_payload_too_large');
    assert.is(err.data.limit, 51200);
    assert.is(e.wire.length, 0, 'nothing reached the socket');
    assert.equal(readTrace(e.trace), []);
  } finally {
    await teardown(e);
  }
});

test('resource ids outside [A-Za-z0-9_] are refused client-side', async () => {
  const e = await setup();
  try {
    const err = await expectError(e.client.putDrive({ drive_id: 'root-fs', is_root_device: true, path_on_host: 'x' }), 'fc_invalid_request');
    assert.is(err.data.id, 'root-fs');
    await expectError(e.client.putNetworkInterface({ iface_id: 'eth/0', host_dev_name: 'tap0' }), 'fc_invalid_request');
    await expectError(e.client.loadSnapshot({ snapshot_path: 's' }), 'fc_invalid_request');
    await expectError(
      e.client.loadSnapshot({ snapshot_path: 's', mem_file_path: 'm', mem_backend: { backend_type: 'File', backend_path: 'm' } }),
      'fc_invalid_request',
    );
    assert.is(e.wire.length, 0);
  } finally {
    await teardown(e);
  }
});

test('a call with no answer times out as fc_api_timeout', async () => {
  const e = await setup({ fault: 'hang-on-start', timeoutMs: 300 });
  try {
    await e.client.putBootSource({ kernel_image_path: 'vmlinux' });
    const err = await expectError(e.client.instanceStart(), 'fc_api_timeout');
    assert.is(err.data.timeoutMs, 300);
    assert.is(err.data.path, '/actions');
  } finally {
    await teardown(e);
  }
});

test('a missing socket is fc_api_unreachable', async () => {
  const client = new FirecrackerClient({ socketPath: path.join(os.tmpdir(), `nope-${process.pid}.sock`) });
  try {
    const err = await expectError(client.describeInstance(), 'fc_api_unreachable');
    assert.is(err.data.method, 'GET');
  } finally {
    await client.destroy();
  }
});

test('past 10 connections the API answers 503 and the client reports fc_api_transport', async () => {
  const e = await setup();
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const s = net.connect(e.sock);
      await new Promise((r) => s.once('connect', r));
      held.push(s);
    }
    while (e.fake.http.connections() < 10) await new Promise((r) => setTimeout(r, 5));
    const err = await expectError(e.client.describeInstance(), 'fc_api_transport');
    assert.is(err.data.status, 503);
    assert.match(String(err.data.message), /Too many open connections/);
  } finally {
    for (const s of held) s.destroy();
    await teardown(e);
  }
});

test('IGNITION_FC_TRACE records every request as {method, path, body}', async () => {
  const e = await setup();
  try {
    await e.client.putMachineConfig({ vcpu_count: 2, mem_size_mib: 256 });
    await e.client.getMachineConfig();
    await e.client.putDrive({ drive_id: 'rootfs', is_root_device: true, path_on_host: 'vmlinux' });
    assert.equal(readTrace(e.trace), [
      { method: 'PUT', path: '/machine-config', body: { vcpu_count: 2, mem_size_mib: 256 } },
      { method: 'GET', path: '/machine-config', body: null },
      { method: 'PUT', path: '/drives/rootfs', body: { drive_id: 'rootfs', is_root_device: true, path_on_host: 'vmlinux' } },
    ]);
    // PUT resets omitted optional fields to their defaults.
    assert.equal(await e.client.getMachineConfig(), { vcpu_count: 2, mem_size_mib: 256, smt: false, track_dirty_pages: false, huge_pages: 'None' });
    // A request the transport refuses before any handler sees it is traced too.
    await rawExchange(e.sock, request('POST', '/actions', '{}'), responses(1));
    assert.equal(readTrace(e.trace).slice(-1), [{ method: 'POST', path: '/actions', body: null, rejected: 'Invalid HTTP Method: POST' }]);
  } finally {
    await teardown(e);
  }
});

test('deprecated fields are accepted and flagged (Deprecation: true)', async () => {
  const e = await setup();
  try {
    const res = await e.client.transport.call('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128, cpu_template: 'None' });
    assert.is(res.status, 204);
    assert.is(res.deprecated, true);
  } finally {
    await teardown(e);
  }
});

test.run();
