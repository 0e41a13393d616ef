/**
 * The fake Firecracker's own fidelity, asserted on raw bytes over its Unix socket: micro-http's
 * framing, the two error shapes, the payload and connection limits, Firecracker's request rules
 * (ids, unknown fields, boot phases, load only on a fresh process) and, through the spawned
 * binary, the process-level rules (stale socket, exit after a failed load, CLI flags).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFake, type RunningFake } from '../fakes/firecracker/server.ts';
import { FAULTS } from './api-facts.ts';
import { FAKE_BINARY, rawExchange, request, responses, splitResponses } from './support.ts';

const EXACT_204 = 'HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n';

async function withFake(fn: (sock: string, dir: string, fake: RunningFake, exits: number[]) => Promise<void>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcf-'));
  writeFileSync(path.join(dir, 'vmlinux'), 'k');
  writeFileSync(path.join(dir, 'disk.img'), 'd');
  const sock = path.join(dir, 'api.sock');
  const exits: number[] = [];
  const fake = await startFake({ apiSock: sock, cwd: dir, exit: (c) => exits.push(c) });
  try {
    await fn(sock, dir, fake, exits);
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const put = (p: string, body: unknown) => request('PUT', p, JSON.stringify(body));
const one = (sock: string, bytes: string) => rawExchange(sock, bytes, responses(1));
const fault = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).fault_message as string;

test('204 is byte-exact: no reason phrase, no Content-Length, no body', async () => {
  await withFake(async (sock) => {
    assert.is(await one(sock, put('/boot-source', { kernel_image_path: 'vmlinux' })), EXACT_204);
  });
});

test('200 and 400 carry Content-Type and Content-Length; status line has no reason phrase', async () => {
  await withFake(async (sock) => {
    const ok = await one(sock, request('GET', '/version'));
    assert.match(
      ok,
      /^HTTP\/1\.1 200 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\nContent-Type: application\/json\r\nContent-Length: \d+\r\n\r\n\{"firecracker_version":"1\.16\.1"\}$/,
    );
    const bad = await one(sock, put('/boot-source', { kernel_image_path: 'nope' }));
    assert.match(bad, /^HTTP\/1\.1 400 \r\n/);
    assert.match(fault(bad), /kernel file cannot be opened/);
  });
});

test('POST is a transport error whose body is not valid JSON', async () => {
  await withFake(async (sock) => {
    const res = await one(sock, request('POST', '/actions', '{"action_type":"InstanceStart"}'));
    assert.match(res, /^HTTP\/1\.1 400 \r\n/);
    const body = res.slice(res.indexOf('\r\n\r\n') + 4);
    assert.is(body, '{ "error": "Invalid HTTP Method: POST\nAll previous unanswered requests will be dropped." }');
    assert.throws(() => JSON.parse(body));
  });
});

test('PUT/PATCH without a body and GET with one are refused', async () => {
  await withFake(async (sock) => {
    assert.is(fault(await one(sock, request('PUT', '/boot-source'))), 'Empty PUT request.');
    assert.is(fault(await one(sock, request('PATCH', '/vm'))), 'Empty PATCH request.');
    assert.is(fault(await one(sock, request('GET', '/', '{}'))), 'GET request cannot have a body.');
  });
});

test('resource ids: charset, empty, and body id must equal path id', async () => {
  await withFake(async (sock) => {
    const drive = { drive_id: 'root-fs', path_on_host: 'disk.img', is_root_device: true };
    assert.is(fault(await one(sock, put('/drives/root-fs', drive))), 'API Resource IDs can only contain alphanumeric characters and underscores.');
    assert.is(fault(await one(sock, put('/drives/rootfs', drive))), 'The id from the path does not match the id from the body!');
    assert.is(fault(await one(sock, put('/drives/', drive))), 'The ID cannot be empty.');
    assert.is(await one(sock, put('/drives/root_fs', { ...drive, drive_id: 'root_fs' })), EXACT_204);
  });
});

test('unknown fields are rejected where Firecracker denies them, accepted for metrics', async () => {
  await withFake(async (sock, dir) => {
    const res = fault(await one(sock, put('/machine-config', { vcpu_count: 1, mem_size_mib: 128, memory: 1 })));
    assert.match(res, /unknown field `memory`/);
    assert.match(fault(await one(sock, put('/vsock', { guest_cid: 3 }))), /missing field `uds_path`/);
    assert.is(await one(sock, put('/metrics', { metrics_path: 'm.json', emit_id: 'x' })), EXACT_204);
    assert.ok(existsSync(path.join(dir, 'm.json')), 'metrics file created if missing');
  });
});

test('boot phases: post-boot calls refused before start, pre-boot calls after', async () => {
  await withFake(async (sock) => {
    const before = 'The requested operation is not supported before starting the microVM.';
    assert.is(fault(await one(sock, request('PATCH', '/vm', '{"state":"Paused"}'))), before);
    assert.is(fault(await one(sock, put('/snapshot/create', { snapshot_path: 's', mem_file_path: 'm' }))), before);
    assert.is(fault(await one(sock, put('/actions', { action_type: 'FlushMetrics' }))), before);
    assert.is(fault(await one(sock, put('/actions', { action_type: 'InstanceStart' }))), 'Cannot start microvm without kernel configuration.');
    assert.is(await one(sock, put('/boot-source', { kernel_image_path: 'vmlinux' })), EXACT_204);
    process.env.IGNITION_FC_FAKE_AGENT = path.join(os.tmpdir(), 'no-agent-here.mjs');
    try {
      assert.is(await one(sock, put('/actions', { action_type: 'InstanceStart' })), EXACT_204);
    } finally {
      delete process.env.IGNITION_FC_FAKE_AGENT;
    }
    const after = 'The requested operation is not supported after starting the microVM.';
    assert.is(fault(await one(sock, put('/boot-source', { kernel_image_path: 'vmlinux' }))), after);
    assert.is(fault(await one(sock, put('/actions', { action_type: 'InstanceStart' }))), after);
    assert.is(fault(await one(sock, put('/snapshot/load', { snapshot_path: 's', mem_file_path: 'm' }))), after);
    // Running: create needs a pause first.
    assert.match(fault(await one(sock, put('/snapshot/create', { snapshot_path: 's', mem_file_path: 'm' }))), /unavailable while running/);
    assert.is(await one(sock, request('PATCH', '/vm', '{"state":"Paused"}')), EXACT_204);
    const info = JSON.parse((await one(sock, request('GET', '/'))).split('\r\n\r\n')[1]);
    assert.is(info.state, 'Paused');
  });
});

test('load is refused (not fatal) after a boot resource; both/neither memory backends refused', async () => {
  await withFake(async (sock, _dir, _fake, exits) => {
    const both = fault(
      await one(sock, put('/snapshot/load', { snapshot_path: 's', mem_file_path: 'm', mem_backend: { backend_type: 'File', backend_path: 'm' } })),
    );
    assert.match(both, /too many fields/);
    assert.match(fault(await one(sock, put('/snapshot/load', { snapshot_path: 's' }))), /either `mem_backend` or `mem_file_path` is required/);
    assert.is(await one(sock, put('/logger', { level: 'Info' })), EXACT_204, 'logger does not make a boot path');
    assert.is(await one(sock, put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 })), EXACT_204);
    assert.is(
      fault(await one(sock, put('/snapshot/load', { snapshot_path: 's', mem_backend: { backend_type: 'File', backend_path: 'm' } }))),
      FAULTS.loadAfterBootResource,
    );
    assert.equal(exits, []);
  });
});

test('a failed load answers 400 and then ends the process', async () => {
  await withFake(async (sock, dir, _fake, exits) => {
    writeFileSync(path.join(dir, 'state'), 'corrupt');
    const res = await one(sock, put('/snapshot/load', { snapshot_path: 'state', mem_backend: { backend_type: 'File', backend_path: 'mem' } }));
    assert.match(fault(res), /^Load snapshot error: /);
    for (let i = 0; i < 100 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(exits, [1]);
  });
});

test('payload over the limit: transport error, queued requests dropped, the connection keeps working', async () => {
  await withFake(async (sock) => {
    const big = JSON.stringify({ kernel_image_path: 'vmlinux', boot_args: 'x'.repeat(60_000) });
    const s = net.connect(sock);
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (out += d));
    await new Promise((r) => s.once('connect', r));
    try {
      // The GET pipelined behind the oversized request is dropped with it.
      s.write(request('PUT', '/boot-source', big) + request('GET', '/version'));
      while (splitResponses(out).length < 1) await new Promise((r) => setTimeout(r, 10));
      const [first] = splitResponses(out);
      assert.match(first, /^HTTP\/1\.1 400 \r\n/);
      assert.ok(first.includes('"error": "Request payload with size'), first);
      assert.ok(first.includes('is larger than the limit of 51200 allowed by server.\nAll previous unanswered requests will be dropped."'));
      s.write(request('GET', '/version'));
      while (splitResponses(out).length < 2) await new Promise((r) => setTimeout(r, 10));
      const parts = splitResponses(out);
      assert.is(parts.length, 2, 'the pipelined GET got no answer');
      assert.match(parts[1], /^HTTP\/1\.1 200 \r\n/);
    } finally {
      s.destroy();
    }
  });
});

test('pipelined requests are answered in order on one connection; Expect: 100-continue gets an interim 100', async () => {
  await withFake(async (sock) => {
    const out = await rawExchange(sock, request('GET', '/version') + request('GET', '/machine-config') + request('GET', '/'), responses(3));
    const parts = splitResponses(out);
    assert.match(parts[0], /firecracker_version/);
    assert.match(parts[1], /mem_size_mib/);
    assert.match(parts[2], /app_name/);
    const cont = await rawExchange(sock, request('PUT', '/boot-source', '{"kernel_image_path":"vmlinux"}', 'Expect: 100-continue\r\n'), responses(2));
    assert.ok(cont.startsWith('HTTP/1.1 100 \r\n'), cont);
    assert.ok(cont.endsWith(EXACT_204));
  });
});

test('request line over 1024 bytes is a transport error', async () => {
  await withFake(async (sock) => {
    const res = await one(sock, request('GET', `/${'a'.repeat(1100)}`));
    assert.ok(res.includes('All previous unanswered requests will be dropped.'), res);
  });
});

test('the 11th concurrent connection gets 503 with Connection: close', async () => {
  await withFake(async (sock, _dir, fake) => {
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const s = net.connect(sock);
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      while (fake.http.connections() < 10) await new Promise((r) => setTimeout(r, 5));
      const res = await rawExchange(sock, request('GET', '/'));
      assert.match(res, /^HTTP\/1\.1 503 \r\nServer: Firecracker API\r\nConnection: close\r\n/);
      // Not a parse error: the plain body, without the "unanswered requests" tail.
      assert.ok(res.endsWith('\r\n\r\n{ "error": "Too many open connections" }'), res);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

function runBinary(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(FAKE_BINARY, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('the binary: a stale API socket makes start-up fail', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcb-'));
  try {
    const sock = path.join(dir, 'api.sock');
    const squatter = net.createServer().listen(sock);
    await new Promise((r) => squatter.once('listening', r));
    const res = await runBinary(['--api-sock', sock, '--id', 'x1', '--unknown-flag', '--level', 'Debug'], dir);
    squatter.close();
    assert.is(res.code, 1);
    assert.match(res.stderr, /FailedToBindSocket/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the binary: a --log-path that cannot be opened ends start-up', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcb-'));
  try {
    const res = await runBinary(['--api-sock', path.join(dir, 'api.sock'), '--log-path', 'no-such-dir/fc.log'], dir);
    assert.is(res.code, 1);
    assert.match(res.stderr, /Could not initialize logger: Failed to open target file: No such file or directory \(os error 2\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the binary: creates and writes its log at --log-path and exits after a failed load', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcb-'));
  try {
    const sock = path.join(dir, 'api.sock');
    // No file first: Firecracker 1.16.1 creates it.
    const child = spawn(FAKE_BINARY, ['--api-sock', sock, '--id', 'vm-1', '--log-path', 'fc.log', '--level', 'Info'], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 20));
    let res = '';
    for (let i = 0; i < 200 && !res; i++) {
      res = await one(sock, put('/snapshot/load', { snapshot_path: 'missing', mem_backend: { backend_type: 'File', backend_path: 'mem' } })).catch(() => '');
      if (!res) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(fault(res), /Load snapshot error/);
    assert.is(await exited, 1);
    const log = readFileSync(path.join(dir, 'fc.log'), 'utf8');
    assert.match(log, /\[vm-1:fc_api\] Running Firecracker v1\.16\.1/);
    assert.match(log, /received a Put request on "\/snapshot\/load"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
