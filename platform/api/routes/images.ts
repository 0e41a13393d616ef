/**
 * `/v1/images`: base images (the root filesystems microVMs boot from) in the registry, and a guard
 * in front of `/v1/snapshots` so a golden snapshot that a function version restores from cannot be
 * deleted from under it.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readJson } from '../body.ts';
import { BadRequest, Conflict } from '../../errors.ts';
import type { Registry } from '../../registry/registry.ts';
import type { FunctionRepository } from '../../functions/repository.ts';

export function imageRoutes(registry: Registry) {
  const app = new Hono();
  app.get('/', (c) => c.json({ images: registry.list({ kind: 'base-image' }) }));
  app.post('/', async (c) => {
    const body = await readJson<{ path?: string; name?: string; kernel?: string }>(c);
    if (typeof body.path !== 'string' || !path.isAbsolute(body.path) || !existsSync(body.path)) {
      throw BadRequest('"path" must be the absolute path of an ext4 image on the daemon host');
    }
    const files: Record<string, string> = { rootfs: body.path };
    if (body.kernel !== undefined) {
      if (typeof body.kernel !== 'string' || !existsSync(body.kernel)) throw BadRequest('"kernel" must be the path of a kernel image on the daemon host');
      files.kernel = body.kernel;
    }
    const snap = await registry.createSnapshot({ name: body.name ?? null, kind: 'base-image', driver: 'firecracker', files, config: {}, labels: {} });
    return c.json(snap, 201);
  });
  return app;
}

/** Refuses `DELETE /v1/snapshots/:id` for a snapshot some function version restores from. */
export function guardGoldenSnapshots(registry: Registry, repo: FunctionRepository): MiddlewareHandler {
  return async (c, next) => {
    // Only `DELETE /v1/snapshots/:id` removes a snapshot (deleting one of its tags is fine).
    const parts = c.req.path.split('/');
    if (c.req.method === 'DELETE' && parts.length === 4) {
      const ref = decodeURIComponent(parts[3] ?? '');
      const snap = ref ? registry.find(ref) : null;
      if (snap) {
        for (const f of repo.listFunctions()) {
          const v = repo.listVersions(f.name).find((x) => x.snapshotId === snap.id);
          if (v)
            throw Conflict(`snapshot ${snap.id} is the golden snapshot of ${f.name} v${v.seq}; remove the function (ignition rm ${f.name}) first`, {
              data: { function: f.name, version: v.id },
            });
        }
      }
    }
    await next();
  };
}
