/**
 * `/v1/network` routes (mounted by the daemon): read-only views of slots, leases and the pool.
 * Leases are acquired and released by the VM lifecycle, never directly over HTTP.
 * Errors are thrown as IgnitionError; the API edge renders them as problem+json.
 */
import { Hono } from 'hono';
import { NetLeaseNotFound } from './errors.ts';
import type { NetworkService } from './service.ts';

/** `GET /` → `{slots, leases, pool, capacity}`; `GET /leases/:vmId` → one lease or 404. */
export function networkRoutes(service: NetworkService): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(service.list()));
  app.get('/leases/:vmId', (c) => {
    const vmId = c.req.param('vmId');
    const lease = service.leaseOf(vmId);
    if (!lease) throw NetLeaseNotFound(`VM ${vmId} holds no network lease.`, { data: { vmId } });
    return c.json(lease);
  });
  return app;
}
