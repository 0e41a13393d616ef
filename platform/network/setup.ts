/**
 * Host effects of slots: create, re-police and destroy them, set up and purge the host side, and
 * remove leftovers of ours. Each operation is one script run by one shell (host.ts), so the
 * cost is a handful of processes, not one per step.
 *
 * Transactions: a failed create runs the idempotent teardown script before it throws, so nothing
 * of the slot is left (the namespace, and with it the TAP and slot nft table, the veth pair, and
 * the host route, which dies with the veth). Only names of ours (prefix) and our one nft table are
 * ever touched, so reconciliation cannot remove anything it did not create.
 */
import { NetSetupFailed, NetTeardownFailed } from './errors.ts';
import { type HostShell, listHostLinks, listNetns } from './host.ts';
import {
  ABSENT,
  bridgeEgressScript,
  createBridgeTapScript,
  createSlotScript,
  destroyBridgeTapScript,
  destroySlotScript,
  hostScript,
  purgeHostScript,
  slotPolicyScript,
} from './scripts.ts';
import {
  type BridgeLayout,
  type NetworkConfig,
  type SlotLayout,
  type SlotPolicy,
  bridgeLayout,
  bridgeName,
  slotLayout,
  slotOfBridgeTap,
  slotOfHostVeth,
  slotOfNetns,
} from './slot.ts';

/** What `removeLeftovers` found and removed. */
export interface LeftoverReport {
  namespaces: string[];
  links: string[];
}

export class SlotHost {
  readonly cfg: NetworkConfig;
  readonly shell: HostShell;

  constructor(cfg: NetworkConfig, shell: HostShell) {
    this.cfg = cfg;
    this.shell = shell;
  }

  /** Creates clone slot `n` with `policy`; on any failure removes whatever was created, then throws. */
  async createSlot(n: number, policy: SlotPolicy): Promise<SlotLayout> {
    const s = slotLayout(this.cfg, n);
    try {
      await this.shell.run(`create slot ${n}`, createSlotScript(this.cfg, s, policy));
      return s;
    } catch (cause) {
      throw await this.#rolledBack(`setting up network slot ${n} (${s.netns})`, cause, () => this.destroySlot(n), { slot: n, netns: s.netns });
    }
  }

  /** Applies a new policy to a live slot (MTU, egress); a no-op when nothing changes. */
  async applyPolicy(n: number, from: SlotPolicy | null, to: SlotPolicy): Promise<void> {
    const script = slotPolicyScript(slotLayout(this.cfg, n), from, to);
    if (script) await this.shell.run(`policy slot ${n}`, script);
  }

  /** Removes clone slot `n`; succeeds when it is already (partly) gone. */
  async destroySlot(n: number): Promise<void> {
    const s = slotLayout(this.cfg, n);
    try {
      await this.shell.run(`destroy slot ${n}`, destroySlotScript(s), { tolerate: ABSENT });
    } catch (cause) {
      throw NetTeardownFailed(`tearing down network slot ${n} (${s.netns}) failed.`, { cause, data: { slot: n, netns: s.netns } });
    }
  }

  /** Creates bridge slot `n`: a TAP on our bridge; rolls back on failure. */
  async createBridgeTap(n: number, policy: SlotPolicy): Promise<BridgeLayout> {
    const b = bridgeLayout(this.cfg, n);
    try {
      await this.shell.run(`create bridge tap ${n}`, createBridgeTapScript(this.cfg, b, policy));
      return b;
    } catch (cause) {
      throw await this.#rolledBack(`setting up bridge TAP ${b.tap}`, cause, () => this.destroyBridgeTap(n), { slot: n, tap: b.tap });
    }
  }

  async setBridgeEgress(n: number, egress: boolean): Promise<void> {
    await this.shell.run(`bridge egress ${n}`, bridgeEgressScript(bridgeLayout(this.cfg, n), egress));
  }

  async destroyBridgeTap(n: number): Promise<void> {
    const b = bridgeLayout(this.cfg, n);
    try {
      await this.shell.run(`destroy bridge tap ${n}`, destroyBridgeTapScript(b), { tolerate: ABSENT });
    } catch (cause) {
      throw NetTeardownFailed(`tearing down bridge TAP ${b.tap} failed.`, { cause, data: { slot: n, tap: b.tap } });
    }
  }

  /**
   * Prepares the host: forwarding on, our bridge if bridge mode is on and it is missing, and our
   * nft table rewritten in one transaction (with the bridge guests allowed egress).
   */
  async ensureHost(bridgeEgress: string[] = []): Promise<void> {
    const links = this.cfg.bridgeSubnet ? await listHostLinks(this.shell) : [];
    const createBridge = this.cfg.bridgeSubnet !== null && !links.includes(bridgeName(this.cfg));
    await this.shell.run('prepare host', hostScript(this.cfg, { createBridge, bridgeEgress }));
  }

  /** Removes our nft table and bridge (slots must be gone first). */
  async purgeHost(): Promise<void> {
    await this.shell.run('purge host', purgeHostScript(this.cfg), { tolerate: ABSENT });
  }

  /**
   * Removes namespaces and links of ours that no slot number in `keep` accounts for: what a crashed
   * run left behind. Call it with the slots the database knows *after* listing would be racy, so it
   * lists first and asks `keep()` afterwards: a slot created meanwhile has its row already.
   */
  async removeLeftovers(keep: () => { clone: Set<number>; bridge: Set<number> }): Promise<LeftoverReport> {
    const namespaces = listNetns();
    const links = await listHostLinks(this.shell);
    const k = keep();
    const lines: string[] = [];
    const report: LeftoverReport = { namespaces: [], links: [] };
    for (const ns of namespaces) {
      const n = slotOfNetns(this.cfg, ns);
      if (n !== null && !k.clone.has(n)) {
        report.namespaces.push(ns);
        lines.push(`netns del ${ns}`);
      }
    }
    for (const l of links) {
      const v = slotOfHostVeth(this.cfg, l);
      const t = slotOfBridgeTap(this.cfg, l);
      if ((v !== null && !k.clone.has(v)) || (t !== null && !k.bridge.has(t))) {
        report.links.push(l);
        lines.unshift(`link del ${l}`); // links first: a veth end dies with its namespace anyway
      }
    }
    if (lines.length) {
      try {
        await this.shell.run('remove leftovers', `ip -force -batch - <<'IGN_HOST'\n${lines.join('\n')}\nIGN_HOST\n`, { tolerate: ABSENT });
      } catch (cause) {
        throw NetTeardownFailed('removing leftover network namespaces and links failed.', { cause, data: report as unknown as Record<string, unknown> });
      }
    }
    return report;
  }

  /** Which clone slots exist on the host (namespace present), for checking the database against. */
  presentSlots(): Set<number> {
    const out = new Set<number>();
    for (const ns of listNetns()) {
      const n = slotOfNetns(this.cfg, ns);
      if (n !== null) out.add(n);
    }
    return out;
  }

  async #rolledBack(what: string, cause: unknown, undo: () => Promise<void>, data: Record<string, unknown>): Promise<Error> {
    try {
      await undo();
      return NetSetupFailed(`${what} failed; everything it created was removed.`, { cause, data: { ...data, rolledBack: true } });
    } catch (undoErr) {
      return NetSetupFailed(`${what} failed, and so did removing what it created; reconciliation will retry.`, {
        cause,
        data: { ...data, rolledBack: false, rollbackError: undoErr instanceof Error ? undoErr.message : String(undoErr) },
      });
    }
  }
}
