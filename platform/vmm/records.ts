/**
 * The machines table: every machine the daemon starts is recorded before its process exists and
 * removed after its workspace is gone, so a daemon restarted after a crash can find what the old
 * one left running (`reap`) and the database agrees with what runs.
 */
import { eq } from 'drizzle-orm';
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { FILES } from './firecracker/layout.ts';
import type { Store } from '../store/db.ts';
import { machinesTable } from './schema.ts';
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
  name: string | null;
  createdAt: number;
  updatedAt: number;
}

export class MachineRecords {
  constructor(private readonly store: Store) {}

  insert(r: {
    id: string;
    driver: string;
    role: MachineRole;
    fn?: string;
    version?: string;
    workspace: string;
    state: string;
    pid?: number;
    name?: string | null;
  }) {
    const now = Date.now();
    this.store.db
      .insert(machinesTable)
      .values({
        id: r.id,
        driver: r.driver,
        role: r.role,
        fn: r.fn ?? null,
        version: r.version ?? null,
        state: r.state,
        pid: r.pid ?? null,
        workspace: r.workspace,
        name: r.name ?? null,
        createdAt: now,
        updatedAt: now,
      })
      .run();
  }

  update(id: string, fields: Partial<Pick<MachineRecord, 'state' | 'pid'>>) {
    this.store.db
      .update(machinesTable)
      .set({ ...fields, updatedAt: Date.now() })
      .where(eq(machinesTable.id, id))
      .run();
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
   * Kills the processes and removes the workspaces of machines a previous daemon left behind, and
   * (given `workspacesDir`) whatever that daemon had not recorded yet: fork clones still starting,
   * fork and snapshot directories. A process is only signalled when it is provably one of ours:
   * its working directory is inside the workspace (a Firecracker VMM, also one started as a spare
   * whose command line names the spare's old directory), its command line names the workspace (a
   * sandbox) or passes `--id <machine id>` (a jailed VMM, whose cwd is its chroot). A pid reused
   * by an unrelated process matches none of these. Returns the ids reaped.
   */
  reap(logger: Logger, workspacesDir?: string): string[] {
    const reaped: string[] = [];
    const records = this.list();
    const procs = records.length || workspacesDir ? scanProcesses() : [];
    for (const r of records) {
      const ids = [r.id, r.id.replace(/_/g, '-')];
      killAll(procs.filter((p) => within(p.cwd, r.workspace) || p.cmdline.includes(r.workspace) || ids.some((id) => p.cmdline.includes(`--id\0${id}\0`))));
      if (r.role === 'vm') {
        // A user's VM keeps its record and workspace (like `vm kill`) until `vm rm`.
        if (r.state !== 'stopped') this.update(r.id, { state: 'stopped', pid: null });
        continue;
      }
      removeWorkspace(r.workspace);
      this.remove(r.id);
      reaped.push(r.id);
    }
    let strays = 0;
    if (workspacesDir) {
      const kept = new Set(this.list().map((r) => path.resolve(r.workspace)));
      for (const name of safeReaddir(workspacesDir)) {
        const dir = path.resolve(workspacesDir, name);
        // Spare VMMs are the spare pool's to reap (spares.ts): it checks their pid files.
        // The process driver's agent copy (process/driver.ts) is no machine.
        if (kept.has(dir) || name.startsWith('.spare-') || name === '.agent') continue;
        killAll(procs.filter((p) => within(p.cwd, dir)));
        removeWorkspace(dir);
        strays++;
      }
    }
    if (reaped.length || strays) logger.info('reaped machines left by a previous run', { count: reaped.length, unrecorded: strays });
    return reaped;
  }
}

interface ProcessInfo {
  pid: number;
  cwd: string;
  cmdline: string;
}

/** Every process this daemon may read: pid, working directory, NUL-separated command line. */
function scanProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      out.push({ pid: Number(entry), cwd: readlinkSync(`/proc/${entry}/cwd`), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8') });
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
  return out;
}

const within = (file: string, dir: string) => file === dir || file.startsWith(dir + '/');

/** SIGKILL to each process's group (a VMM leads one with its children), then to the process. */
function killAll(procs: ProcessInfo[]): void {
  for (const p of procs) {
    for (const target of [-p.pid, p.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Not a group leader, or gone already.
      }
    }
  }
}

/** Removes a workspace and, for a jailed Firecracker VM, the jail its `jail.link` points to. */
function removeWorkspace(dir: string): void {
  try {
    rmSync(readlinkSync(path.join(dir, FILES.jail)), { recursive: true, force: true });
  } catch {
    // Not jailed.
  }
  rmSync(dir, { recursive: true, force: true });
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
