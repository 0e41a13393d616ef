/**
 * Console logs of functions: machine output lines parsed (the runtime writes one JSON record per
 * console call, tagged with the invocation id) and stored in SQLite, written in batches so a
 * chatty function costs one transaction per tick rather than one per line. Retention keeps the
 * newest `retention` lines per function.
 */
import { and, desc, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import type { Store } from '../store/db.ts';
import type { OutputLine } from '../vmm/port.ts';
import { logsTable } from './schema.ts';
import { BadRequest } from '../errors.ts';

export interface LogEntry {
  id: number;
  fn: string;
  version: string | null;
  machine: string | null;
  invocation: string | null;
  level: string;
  time: number;
  message: string;
}

type NewLog = Omit<LogEntry, 'id'>;

/**
 * Levels from the least to the most severe: the runtime's console levels (runtime/console.ts).
 * Raw stderr lines and the platform's `[ignition]` lines are `error`, raw stdout lines `info`.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level and the ones more severe: what "at least `level`" selects. */
export function levelsFrom(level: LogLevel): LogLevel[] {
  return LOG_LEVELS.slice(LOG_LEVELS.indexOf(level));
}

/** Checks a `level` filter as a caller gave it; undefined or empty means every level. */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw BadRequest(`"level" must be one of ${LOG_LEVELS.join(', ')} (that level and the more severe ones), not ${JSON.stringify(value.slice(0, 32))}`, {
      data: { levels: [...LOG_LEVELS] },
    });
  }
  return value as LogLevel;
}

export class LogSink {
  private batch: NewLog[] = [];
  private scheduled = false;
  private readonly followers = new Set<(e: LogEntry) => void>();
  private writes = 0;
  private readonly serving = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly store: Store,
    private readonly retention: number,
  ) {}

  /**
   * `source.invocation`: the invocation a raw line (not the runtime's structured console) belongs
   * to, when the instance serves exactly one: V8's fatal lines at its heap limit come that way.
   * Without it, the machine's invocations in flight (`inFlight`) name it.
   */
  ingest(source: { fn: string; version?: string; machine?: string; invocation?: string }, out: OutputLine) {
    let entry: NewLog = {
      fn: source.fn,
      version: source.version ?? null,
      machine: source.machine ?? null,
      invocation: source.invocation ?? this.onlyInvocation(source.machine),
      level: out.stream === 'stderr' ? 'error' : 'info',
      time: Date.now(),
      message: out.line,
    };
    if (out.line.startsWith('{')) {
      try {
        const rec = JSON.parse(out.line) as { t?: number; src?: string; lvl?: string; inv?: string; msg?: string };
        if (typeof rec.msg === 'string') {
          entry = {
            ...entry,
            invocation: rec.inv ?? null,
            level: rec.lvl ?? entry.level,
            time: rec.t ?? entry.time,
            message: rec.src === 'agent' ? `[agent] ${rec.msg}` : rec.msg,
          };
        }
      } catch {
        // a line that merely starts with "{": keep it raw
      }
    }
    this.push(entry);
  }

  /**
   * The invocations `machine` serves now, as the invoker keeps them (the same set, updated in
   * place): called after each change. Whatever started the machine and subscribed to its output
   * (an instance's restore, or a deploy whose build machine becomes the first instance), its raw
   * lines are attributed here. Kept only while the set is not empty, so nothing stays behind for
   * machines that are gone.
   */
  inFlight(machine: string, invocations: ReadonlySet<string>) {
    if (invocations.size > 0) this.serving.set(machine, invocations);
    else this.serving.delete(machine);
  }

  private onlyInvocation(machine: string | undefined): string | null {
    const set = machine === undefined ? undefined : this.serving.get(machine);
    return set?.size === 1 ? set.values().next().value! : null;
  }

  /** Records a platform-side line for a function (e.g. "instance crashed"). */
  system(fn: string, level: string, message: string, extra: { version?: string; machine?: string; invocation?: string } = {}) {
    this.push({
      fn,
      version: extra.version ?? null,
      machine: extra.machine ?? null,
      invocation: extra.invocation ?? null,
      level,
      time: Date.now(),
      message: `[ignition] ${message}`,
    });
  }

  private push(entry: NewLog) {
    this.batch.push(entry);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush() {
    this.scheduled = false;
    if (!this.batch.length) return;
    const rows = this.batch;
    this.batch = [];
    const stored: LogEntry[] = [];
    this.store.sqlite.transaction(() => {
      for (const r of rows) stored.push({ id: Number(this.store.db.insert(logsTable).values(r).run().lastInsertRowid), ...r });
    })();
    // Followers get lines as stored, with their ids (the API documents every line with one), once
    // they are committed: a follower that reads the backlog first and subscribes in the same tick
    // sees every line once.
    for (const e of stored) for (const f of this.followers) f(e);
    // Trim now and then, not on every batch.
    if (++this.writes % 50 === 0) this.trim(new Set(rows.map((r) => r.fn)));
  }

  private trim(fns: Set<string>) {
    for (const fn of fns) {
      const cutoff = this.store.db
        .select({ id: logsTable.id })
        .from(logsTable)
        .where(eq(logsTable.fn, fn))
        .orderBy(desc(logsTable.id))
        .limit(1)
        .offset(this.retention)
        .get();
      if (cutoff)
        this.store.db
          .delete(logsTable)
          .where(and(eq(logsTable.fn, fn), lt(logsTable.id, cutoff.id + 1)))
          .run();
    }
  }

  /** `level`: that level and the more severe ones only. */
  query(fn: string, options: { invocation?: string; limit?: number; after?: number; level?: LogLevel } = {}): LogEntry[] {
    this.flush();
    const conds = [eq(logsTable.fn, fn)];
    if (options.invocation) conds.push(eq(logsTable.invocation, options.invocation));
    if (options.level && options.level !== 'debug') conds.push(inArray(logsTable.level, levelsFrom(options.level)));
    if (options.after) conds.push(gt(logsTable.id, options.after));
    const rows = this.store.db
      .select()
      .from(logsTable)
      .where(and(...conds))
      .orderBy(desc(logsTable.id))
      .limit(options.limit ?? 100)
      .all();
    return rows.reverse();
  }

  /** Live lines as they are stored (a turn of the event loop after they arrive); returns an unsubscribe function. */
  follow(listener: (e: LogEntry) => void): () => void {
    this.followers.add(listener);
    return () => this.followers.delete(listener);
  }

  deleteFunction(fn: string) {
    this.flush();
    this.store.db.delete(logsTable).where(eq(logsTable.fn, fn)).run();
  }

  count(): number {
    return this.store.db
      .select({ n: sql<number>`count(*)` })
      .from(logsTable)
      .get()!.n;
  }
}
