/**
 * Lineage as a forest, a pure function of the snapshot list: base images at the roots, golden
 * snapshots under them, forks under those. A snapshot whose parent is not on this host (pulled
 * alone, or its parent force-removed) is a root marked `orphan`.
 */
import type { Snapshot } from './types.ts';

export interface TreeNode {
  id: string;
  name: string | null;
  tags: string[];
  kind: Snapshot['kind'];
  driver: Snapshot['driver'];
  size: number;
  createdAt: string;
  parentId: string | null;
  /** True when `parentId` names a snapshot that is not in the catalogue. */
  orphan: boolean;
  children: TreeNode[];
}

export function buildTree(snapshots: Snapshot[]): TreeNode[] {
  const nodes = new Map<string, TreeNode>();
  for (const s of snapshots) {
    nodes.set(s.id, {
      id: s.id,
      name: s.name,
      tags: s.tags,
      kind: s.kind,
      driver: s.driver,
      size: s.size,
      createdAt: s.createdAt,
      parentId: s.parentId,
      orphan: false,
      children: [],
    });
  }
  const roots: TreeNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.parentId ? nodes.get(node.parentId) : undefined;
    // A cycle cannot be created through the API (a parent must exist first), but a pulled
    // snapshot could claim any parent id; a node never hangs under its own descendant.
    if (parent && !descendsFrom(parent, node.id, nodes)) parent.children.push(node);
    else {
      node.orphan = node.parentId !== null;
      roots.push(node);
    }
  }
  const byAge = (a: TreeNode, b: TreeNode) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
  const sortDeep = (list: TreeNode[]) => {
    list.sort(byAge);
    list.forEach((n) => sortDeep(n.children));
  };
  sortDeep(roots);
  return roots;
}

function descendsFrom(node: TreeNode, ancestorId: string, nodes: Map<string, TreeNode>): boolean {
  const seen = new Set<string>();
  let cur: TreeNode | undefined = node;
  while (cur && !seen.has(cur.id)) {
    if (cur.id === ancestorId) return true;
    seen.add(cur.id);
    cur = cur.parentId ? nodes.get(cur.parentId) : undefined;
  }
  return false;
}

/** Renders the forest as indented text lines (what `ignition images --tree` prints). */
export function formatTree(roots: TreeNode[]): string {
  const lines: string[] = [];
  const label = (n: TreeNode) =>
    `${n.id}${n.name ? ` ${n.name}` : ''}${n.tags.length ? ` [${n.tags.join(', ')}]` : ''} (${n.kind}, ${n.driver}, ${formatBytes(n.size)})${n.orphan ? ` parent ${n.parentId} missing` : ''}`;
  const walk = (n: TreeNode, prefix: string, last: boolean, root: boolean) => {
    lines.push(root ? label(n) : `${prefix}${last ? '└─ ' : '├─ '}${label(n)}`);
    const next = root ? '' : prefix + (last ? '   ' : '│  ');
    n.children.forEach((c, i) => walk(c, next, i === n.children.length - 1, false));
  };
  roots.forEach((r) => walk(r, '', true, true));
  return lines.join('\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
