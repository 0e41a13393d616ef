/**
 * `/v1/snapshots` (mounted there by platform/daemon.ts, and at `/v1/images` too): list, inspect,
 * tag, delete, lineage, GC, verify, OCI export/import and push/pull, as JSON over HTTP.
 *
 * Errors are thrown as IgnitionError and turned into problem+json by the API edge. Layouts can
 * move two ways: by path on the daemon's host (`POST /:id/export {path}`, `POST /import {path}`),
 * or over the connection itself (`GET /:id/layout.tar`, `POST /import` with an
 * `application/x-tar` body), which is what a CLI talking to a remote daemon uses.
 */
import { Hono, type Context } from 'hono';
import { Readable } from 'node:stream';
import { readJson } from '../api/body.ts';
import { RegistryBadRequest, RegistryConflict } from './errors.ts';
import { assertSnapshotName } from './digest.ts';
import type { Materialized } from './oci/materialize.ts';
import { importLayoutTar, layoutTarStream } from './oci/layout.ts';
import type { Credentials } from './oci/auth.ts';
import type { Registry } from './registry.ts';
import { SNAPSHOT_KINDS, type SnapshotKind } from './types.ts';
import { formatTree } from './lineage.ts';

function str(body: Record<string, unknown>, key: string, required: true): string;
function str(body: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(body: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) throw RegistryBadRequest(`the request body needs "${key}" (a string)`);
    return undefined;
  }
  if (typeof v !== 'string' || v.includes('\0')) throw RegistryBadRequest(`"${key}" must be a string without NUL`);
  return v;
}

function credentials(body: Record<string, unknown>): Credentials | undefined {
  const a = body.auth as Record<string, unknown> | undefined;
  if (a === undefined || a === null) return undefined;
  if (typeof a !== 'object') throw RegistryBadRequest('"auth" must be {username, password} or {token}');
  if (typeof a.token === 'string') return { token: a.token };
  if (typeof a.username === 'string' && typeof a.password === 'string') return { username: a.username, password: a.password };
  throw RegistryBadRequest('"auth" must be {username, password} or {token}');
}

function tags(body: Record<string, unknown>): string[] | undefined {
  if (body.tags === undefined) return undefined;
  if (!Array.isArray(body.tags) || body.tags.some((t) => typeof t !== 'string')) throw RegistryBadRequest('"tags" must be an array of strings');
  return body.tags as string[];
}

/**
 * An import or pull of a snapshot that is already here changes nothing (its id fixes its content),
 * so the `name` the caller asked for would be dropped without a word. Names are given at creation,
 * so the name becomes a tag of the snapshot instead: it resolves wherever a name does (inspect,
 * vm run --snapshot, push). A name that already means another snapshot is refused.
 */
function nameExisting<T extends Materialized>(registry: Registry, result: T, name: string | undefined): T {
  if (name === undefined || !result.existed) return result;
  const snap = result.snapshot;
  if (snap.name === name || snap.tags.includes(name)) return result;
  assertSnapshotName(name);
  const other = registry.find(name);
  if (other && other.id !== snap.id) {
    throw RegistryConflict(`snapshot ${snap.id} is already here, and the name "${name}" it was to get refers to snapshot ${other.id}`, {
      data: { name, snapshot: snap.id, other: other.id },
    });
  }
  return { ...result, snapshot: registry.tag(snap.id, name) };
}

/** The registry's REST routes as a Hono sub-app. */
export function registryRoutes(registry: Registry): Hono {
  const app = new Hono();

  app.get('/', (c) => {
    const kind = c.req.query('kind');
    if (kind !== undefined && !SNAPSHOT_KINDS.includes(kind as SnapshotKind)) throw RegistryBadRequest(`kind must be one of ${SNAPSHOT_KINDS.join(', ')}`);
    return c.json({ snapshots: registry.list({ kind: kind as SnapshotKind | undefined, label: c.req.query('label') || undefined }) });
  });

  app.get('/tree', (c) => {
    const tree = registry.tree();
    return c.req.query('format') === 'text' ? c.text(formatTree(tree) + '\n') : c.json({ tree });
  });

  app.post('/gc', async (c) => {
    const body = await readJson(c);
    return c.json(registry.gc({ dryRun: body.dryRun === true }));
  });

  app.post('/verify', async (c) => c.json(await registry.verify()));

  app.post('/import', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (type.startsWith('application/x-tar')) {
      const raw = c.req.raw.body;
      if (!raw) throw RegistryBadRequest('an application/x-tar import needs a body');
      const name = c.req.query('name') || undefined;
      const results = await importLayoutTar(registry, raw as unknown as AsyncIterable<Uint8Array>, 'the request body', {
        refName: c.req.query('ref') || undefined,
        name,
      });
      return c.json({ imported: results.map((r) => nameExisting(registry, r, name)) }, 201);
    }
    const body = await readJson(c);
    const name = str(body, 'name');
    const results = await registry.importLayout(str(body, 'path', true), { refName: str(body, 'refName'), name, tags: tags(body) });
    return c.json({ imported: results.map((r) => nameExisting(registry, r, name)) }, 201);
  });

  app.post('/pull', async (c) => {
    const body = await readJson(c);
    const name = str(body, 'name');
    const result = nameExisting(
      registry,
      await registry.pull(str(body, 'ref', true), { insecure: body.insecure === true, auth: credentials(body), name, tags: tags(body) }),
      name,
    );
    return c.json(result, result.existed ? 200 : 201);
  });

  app.get('/:id', (c) => {
    const snap = registry.get(c.req.param('id'));
    return c.json({ ...snap, children: registry.catalogue.children(snap.id).map((s) => s.id) });
  });

  app.delete('/:id', (c) => {
    const force = ['1', 'true', 'yes'].includes(c.req.query('force') ?? '');
    return c.json({ removed: registry.remove(c.req.param('id'), { force }) });
  });

  app.post('/:id/tags', async (c) => {
    const body = await readJson(c);
    return c.json(registry.tag(c.req.param('id'), str(body, 'tag', true)));
  });

  app.delete('/:id/tags/:tag', (c) => {
    const snap = registry.get(c.req.param('id'));
    if (!snap.tags.includes(c.req.param('tag'))) throw RegistryBadRequest(`snapshot ${snap.id} has no tag "${c.req.param('tag')}"`);
    registry.catalogue.untag(c.req.param('tag'));
    return c.json(registry.get(snap.id));
  });

  app.get('/:id/layout.tar', (c: Context) => {
    const { stream, manifestDigest, size } = layoutTarStream(registry, c.req.param('id') as string, { refName: c.req.query('ref') || undefined });
    return c.body(Readable.toWeb(Readable.from(stream)) as unknown as ReadableStream, 200, {
      'content-type': 'application/x-tar',
      'content-length': String(size),
      'docker-content-digest': manifestDigest,
    });
  });

  app.post('/:id/export', async (c) => {
    const body = await readJson(c);
    return c.json(await registry.exportLayout(c.req.param('id'), str(body, 'path', true), { refName: str(body, 'refName') }), 201);
  });

  app.post('/:id/push', async (c) => {
    const body = await readJson(c);
    const chunkSize = body.chunkSize === undefined ? undefined : Number(body.chunkSize);
    if (chunkSize !== undefined && !(Number.isSafeInteger(chunkSize) && chunkSize > 0)) throw RegistryBadRequest('"chunkSize" must be a positive integer');
    return c.json(
      await registry.push(c.req.param('id'), str(body, 'ref', true), {
        insecure: body.insecure === true,
        auth: credentials(body),
        chunkSize,
        mountFrom: str(body, 'mountFrom'),
      }),
    );
  });

  return app;
}
