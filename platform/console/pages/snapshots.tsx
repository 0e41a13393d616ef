/**
 * Snapshots (`/console/snapshots`): the registry's lineage tree (base images → golden snapshots
 * → forks) with sizes, reference counts and users; the last GC and verification; and both as
 * buttons behind a confirmation. GC is cheap (it stats blobs); verification re-hashes every blob,
 * so it runs in the background and the page shows its progress and then its result.
 */
import type { GcReport } from '../../registry/gc.ts';
import type { VerifyReport } from '../../registry/verify.ts';
import type { SnapshotNode } from '../lineage.ts';
import { formatBytes, iso, short } from './format.ts';
import { ConfirmPage, Layout, Unavailable } from './layout.tsx';

export interface VerifyProgress {
  startedAt: string;
  blobs: number;
  totalBlobs: number;
  bytes: number;
}

export interface Checks {
  lastGc: { at: string; report: GcReport } | null;
  lastVerify: { at: string; report: VerifyReport } | null;
  verifying: VerifyProgress | null;
}

export function SnapshotsPage(props: { csrf: string; tree: SnapshotNode[] | null; count: number; bytes: number; checks: Checks }) {
  const { checks } = props;
  return (
    <Layout
      title="Snapshots"
      csrf={props.csrf}
      page="snapshots"
      section="snapshots"
      refresh={checks.verifying ? { seconds: 2, url: '/console/snapshots' } : undefined}
    >
      <h1>Snapshots</h1>
      {props.tree === null ? (
        <Unavailable what="The snapshot registry" />
      ) : (
        <>
          <section aria-labelledby="checks-title">
            <h2 id="checks-title">Garbage collection and verification</h2>
            <div class="cards">
              <div class="card" id="gc-result">
                <h3>Last GC</h3>
                <GcResult last={checks.lastGc} />
                <a class="button" href="/console/snapshots/gc">
                  Collect garbage…
                </a>
              </div>
              <div class="card" id="verify-result">
                <h3>Last verification</h3>
                {checks.verifying ? (
                  <p role="status" data-verifying>
                    Verifying since {iso(checks.verifying.startedAt)}: {checks.verifying.blobs} of {checks.verifying.totalBlobs} blobs,{' '}
                    {formatBytes(checks.verifying.bytes)} hashed. This page reloads until it is done.
                  </p>
                ) : null}
                <VerifyResult last={checks.lastVerify} />
                {checks.verifying ? null : (
                  <a class="button" href="/console/snapshots/verify">
                    Verify…
                  </a>
                )}
              </div>
            </div>
          </section>
          <section aria-labelledby="tree-title">
            <h2 id="tree-title">Lineage</h2>
            <p class="muted">
              {props.count} snapshots, {formatBytes(props.bytes)} in all. Base images at the roots, golden snapshots under them, forks under those. “Shared ×n”:
              a blob n snapshots refer to; “own” bytes are freed by removing the snapshot and collecting garbage.
            </p>
            {props.tree.length === 0 ? <p>No snapshots yet: a deploy makes one.</p> : <Tree nodes={props.tree} root />}
          </section>
        </>
      )}
    </Layout>
  );
}

function Tree(props: { nodes: SnapshotNode[]; root?: boolean }) {
  return (
    <ul class={props.root ? 'tree' : undefined}>
      {props.nodes.map((n) => (
        <li data-snapshot={n.id} data-kind={n.kind}>
          <div class="node">
            <span class={`badge kind-${n.kind}`}>{n.kind}</span> <code title={n.id}>{n.id}</code>
            {n.name ? <b> {n.name}</b> : null}
            {n.tags.length ? <span class="muted"> [{n.tags.join(', ')}]</span> : null}
            <span class="muted">
              {' '}
              · {n.driver} · <span data-field="size">{formatBytes(n.size)}</span> · own {formatBytes(n.ownBytes)} · {iso(n.createdAt)}
            </span>
            {n.orphan ? <span class="warn"> · parent {n.parentId} is not on this host</span> : null}
            {n.usedBy.length ? <span class="used"> · used by {n.usedBy.join(', ')}</span> : null}
            <span class="files">
              {n.files.map((f) => (
                <span class="file" title={f.digest} data-refs={String(f.refs)}>
                  {f.role} {formatBytes(f.size)}
                  {f.refs > 1 ? ` shared ×${f.refs}` : ''}
                </span>
              ))}
            </span>
          </div>
          {n.children.length ? <Tree nodes={n.children} /> : null}
        </li>
      ))}
    </ul>
  );
}

function GcResult(props: { last: Checks['lastGc'] }) {
  const l = props.last;
  if (!l) return <p class="muted">None since the daemon started.</p>;
  const r = l.report;
  return (
    <p data-gc-removed={String(r.removed.length)}>
      {iso(l.at)}: removed {r.removed.length} blob{r.removed.length === 1 ? '' : 's'}, freed {formatBytes(r.freedBytes)} ({formatBytes(r.freedDiskBytes)} on
      disk); kept {r.kept}
      {r.pinned.length ? `, ${r.pinned.length} pinned by imports in progress` : ''}
      {r.tempsRemoved ? `, ${r.tempsRemoved} stale temp files removed` : ''}.
    </p>
  );
}

function VerifyResult(props: { last: Checks['lastVerify'] }) {
  const l = props.last;
  if (!l) return <p class="muted">None since the daemon started.</p>;
  const r = l.report;
  return (
    <div data-verify-ok={String(r.ok)}>
      <p>
        {iso(l.at)}: {r.ok ? <b class="ok">all blobs intact</b> : <b class="bad">problems found</b>}, {r.checked} blobs, {formatBytes(r.bytes)} hashed.
      </p>
      {r.ok ? null : (
        <ul>
          {r.missing.map((p) => (
            <li>
              missing <code title={p.digest}>{short(p.digest)}</code>, needed by {p.snapshots.join(', ') || 'no snapshot'}
            </li>
          ))}
          {r.corrupt.map((p) => (
            <li>
              corrupt <code title={p.digest}>{short(p.digest)}</code>
              {p.error ? ` (${p.error})` : ''}, needed by {p.snapshots.join(', ') || 'no snapshot'}
            </li>
          ))}
          <li>snapshots that cannot be restored: {r.broken.join(', ') || 'none'}</li>
        </ul>
      )}
    </div>
  );
}

export function GcConfirmPage(props: { csrf: string; dry: GcReport }) {
  const d = props.dry;
  return (
    <ConfirmPage
      csrf={props.csrf}
      title="Collect garbage"
      page="gc-confirm"
      section="snapshots"
      crumbs={[['Snapshots', '/console/snapshots']]}
      heading="Collect the registry's garbage?"
      action="/console/snapshots/gc"
      confirm="Collect garbage"
      cancel="/console/snapshots"
      danger={d.removed.length > 0}
    >
      <p data-dry-removed={String(d.removed.length)}>
        A dry run finds {d.removed.length} blob{d.removed.length === 1 ? '' : 's'} no snapshot refers to ({formatBytes(d.freedBytes)},{' '}
        {formatBytes(d.freedDiskBytes)} on disk); {d.kept} are in use{d.pinned.length ? ` and ${d.pinned.length} pinned by imports in progress` : ''}. GC
        deletes the unreferenced blobs and stale temporary files; snapshots are never touched.
      </p>
    </ConfirmPage>
  );
}

export function VerifyConfirmPage(props: { csrf: string; blobs: number; bytes: number }) {
  return (
    <ConfirmPage
      csrf={props.csrf}
      title="Verify the registry"
      page="verify-confirm"
      section="snapshots"
      crumbs={[['Snapshots', '/console/snapshots']]}
      heading="Verify every blob of the registry?"
      action="/console/snapshots/verify"
      confirm="Verify"
      cancel="/console/snapshots"
    >
      <p>
        Verification reads and re-hashes {props.blobs} blobs ({formatBytes(props.bytes)}) and reports missing and corrupt ones with the snapshots they break. It
        runs in the background; the snapshots page shows its progress and then its result. It changes nothing.
      </p>
    </ConfirmPage>
  );
}
