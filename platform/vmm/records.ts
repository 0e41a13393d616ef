/**
 * The machines table: every machine the daemon starts is recorded before its process exists and
 * removed after its workspace is gone, so a daemon restarted after a crash can find what the old
 * one left running (`reap`) and the database agrees with what runs.
 */
import { eq } from 'drizzle-orm';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Store } from '../store/db.ts';
import { machinesTable } from '../functions/schema.ts';
import type { Logger } from '../log.ts';

export type MachineRole = 'instance' | 'build' | 'vm';

export interface MachineRecord {
  id: string;
  driver: string;
  role: MachineRole;
  fn: string | null;
  version: string | null;
  state: string;
  pid: number | null;
  workspace: string;
  createdAt: number;
  updatedAt: number;
}

export class MachineRecords {
  constructor(private readonly store: Store) {}

  insert(r: { id: string; driver: string; role: MachineRole; fn?: string; version?: string; workspace: string; state: string; pid?: number }) {
    const now = Date.now();
    this.store.db
      .insert(machinesTable)
      .values({ id: r.id, driver: r.driver, role: r.role, fn: r.fn ?? null, version: r.version ?? null, state: r.state, pid: r.pid ?? null, workspace: r.workspace, createdAt: now, updatedAt: now })
      .run();
  }

  update(id: string, fields: Partial<Pick<MachineRecord, 'state' | 'pid'>>) {
    this.store.db.update(machinesTable).set({ ...fields, updatedAt: Date.now() }).where(eq(machinesTable.id, id)).run();
  }

  get(id: string): MachineRecord | undefined {
    return this.store.db.select().from(machinesTable).where(eq(machinesTable.id, id)).get() as MachineRecord | undefined;
  }

  list(role?: MachineRole): MachineRecord[] {
    const q = this.store.db.select().from(machinesTable);
    return (role ? q.where(eq(machinesTable.role, role)).all() : q.all()) as MachineRecord[];
  }

  remove(id: string) {
    this.store.db.delete(machinesTable).where(eq(machinesTable.id, id)).run();
  }

  /**
   * Kills the processes and removes the workspaces of machines a previous daemon left behind.
   * A pid is only signalled when its command line still names the machine's workspace, so a pid
   * reused by an unrelated process is never touched. Returns the ids reaped.
   */
  reap(logger: Logger): string[] {
    const reaped: string[] = [];
    for (const r of this.list()) {
      if (r.pid && processMentions(r.pid, r.workspace)) {
        try {
          process.kill(r.pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      if (r.role === 'vm') {
        // A user's VM keeps its record and workspace (like `vm kill`) until `vm rm`.
        if (r.state !== 'stopped') this.update(r.id, { state: 'stopped', pid: null });
        continue;
      }
      rmSync(r.workspace, { recursive: true, force: true });
      this.remove(r.id);
      reaped.push(r.id);
    }
    if (reaped.length) logger.info('reaped machines left by a previous run', { count: reaped.length });
    return reaped;
  }
}

function processMentions(pid: number, needle: string): boolean {
  const file = `/proc/${pid}/cmdline`;
  if (!existsSync(file)) return false;
  try {
    return readFileSync(file, 'utf8').includes(needle);
  } catch {
    return false;
  }
}
