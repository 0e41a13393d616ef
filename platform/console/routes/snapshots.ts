/**
 * The snapshots page: the registry's lineage with reference counts and users, the last GC and
 * verification (whoever ran them: the registry keeps them), and both behind confirmations. A
 * verification runs in the background, one at a time; the page shows its progress.
 */
import { NotFound } from '../../errors.ts';
import type { Registry } from '../../registry/registry.ts';
import { csrfOf, page, type ConsoleApp, type ConsoleDeps } from '../context.ts';
import { flatten, lineageRows } from '../lineage.ts';
import { GcConfirmPage, SnapshotsPage, VerifyConfirmPage, type VerifyProgress } from '../pages/snapshots.tsx';

export function registerSnapshotRoutes(app: ConsoleApp, deps: ConsoleDeps): void {
  const registry = (): Registry => {
    if (!deps.registry) throw NotFound('this daemon has no snapshot registry');
    return deps.registry;
  };
  let verifying: VerifyProgress | null = null;

  /** Who uses each snapshot: function versions (golden snapshots) and VMs restored from it. */
  const usedBy = (): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    const add = (id: string, who: string) => out.set(id, [...(out.get(id) ?? []), who]);
    for (const f of deps.functions.list()) for (const v of deps.functions.repo.listVersions(f.name)) add(v.snapshotId, `${f.name} v${v.seq}`);
    for (const vm of deps.vms?.list() ?? []) if (vm.source) add(vm.source, `VM ${vm.name ?? vm.id}`);
    return out;
  };

  app.get('/snapshots', (c) => {
    const checks = { lastGc: deps.registry?.lastGc ?? null, lastVerify: deps.registry?.lastVerify ?? null, verifying };
    if (!deps.registry) return page(c, SnapshotsPage({ csrf: csrfOf(c), tree: null, count: 0, bytes: 0, checks }));
    const r = deps.registry;
    const snapshots = r.list();
    const tree = lineageRows(r.tree(), snapshots, r.catalogue.references(), usedBy());
    const bytes = flatten(tree).reduce((n, s) => n + s.size, 0);
    return page(c, SnapshotsPage({ csrf: csrfOf(c), tree, count: snapshots.length, bytes, checks }));
  });

  app.get('/snapshots/gc', (c) => page(c, GcConfirmPage({ csrf: csrfOf(c), dry: registry().gc({ dryRun: true }) })));

  app.post('/snapshots/gc', (c) => {
    registry().gc();
    return c.redirect('/console/snapshots#gc-result', 303);
  });

  app.get('/snapshots/verify', (c) => {
    const r = registry();
    let blobs = 0;
    let bytes = 0;
    for (const digest of r.blobs.list()) {
      blobs++;
      bytes += r.blobs.stat(digest)?.size ?? 0;
    }
    return page(c, VerifyConfirmPage({ csrf: csrfOf(c), blobs, bytes }));
  });

  app.post('/snapshots/verify', (c) => {
    const r = registry();
    if (!verifying) {
      const progress: VerifyProgress = { startedAt: new Date().toISOString(), blobs: 0, totalBlobs: 0, bytes: 0 };
      verifying = progress;
      // In the background: the answer does not wait for GiBs to be hashed. The registry keeps
      // the result (lastVerify); a failure to run at all goes to the daemon's log.
      void r
        .verify({ onProgress: (p) => Object.assign(progress, p) })
        .catch((err: unknown) => deps.logger.warn('console verification failed', { err }))
        .finally(() => {
          verifying = null;
        });
    }
    return c.redirect('/console/snapshots#verify-result', 303);
  });
}
