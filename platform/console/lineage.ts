/**
 * The snapshots page's tree: the registry's lineage forest (registry/lineage.ts) with what an
 * operator asks of each snapshot before removing or keeping it: how many snapshots share each of
 * its blobs (the reference counts GC goes by), the bytes only it holds (what removing it and
 * collecting garbage would free), and who uses it (function versions, VMs restored from it).
 */
import type { TreeNode } from '../registry/lineage.ts';
import type { Snapshot } from '../registry/types.ts';

export interface FileRow {
  role: string;
  digest: string;
  size: number;
  /** Snapshots referring to this blob, this one included. */
  refs: number;
}

/** A lineage node with what the page shows of it. */
export interface SnapshotNode extends Omit<TreeNode, 'children'> {
  files: FileRow[];
  /** Bytes of the blobs no other snapshot refers to. */
  ownBytes: number;
  usedBy: string[];
  children: SnapshotNode[];
}

export function lineageRows(
  tree: TreeNode[],
  snapshots: Snapshot[],
  references: Map<string, string[]>,
  usedBy: Map<string, string[]> = new Map(),
): SnapshotNode[] {
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  // A snapshot naming one blob under two roles counts once: references are per snapshot.
  const refs = (digest: string) => new Set(references.get(digest) ?? []).size;
  const walk = (n: TreeNode): SnapshotNode => {
    const files = Object.entries(byId.get(n.id)?.files ?? {})
      .map(([role, f]) => ({ role, digest: f.digest, size: f.size, refs: refs(f.digest) }))
      .sort((a, b) => a.role.localeCompare(b.role));
    const own = new Map<string, number>();
    for (const f of files) if (f.refs <= 1) own.set(f.digest, f.size);
    return {
      id: n.id,
      name: n.name,
      tags: n.tags,
      kind: n.kind,
      driver: n.driver,
      size: n.size,
      createdAt: n.createdAt,
      parentId: n.parentId,
      orphan: n.orphan,
      files,
      ownBytes: [...own.values()].reduce((a, b) => a + b, 0),
      usedBy: usedBy.get(n.id) ?? [],
      children: n.children.map(walk),
    };
  };
  return tree.map(walk);
}

/** Every node of the forest, depth first. */
export function flatten(nodes: SnapshotNode[]): SnapshotNode[] {
  return nodes.flatMap((n) => [n, ...flatten(n.children)]);
}
