/**
 * The instance pool of one function version.
 *
 * - `reuse` isolation: an instance serves up to `concurrency` requests at once and is reused.
 * - `fresh` isolation: an instance serves one request and is destroyed after it.
 *
 * Spares are started ahead of demand so that steady traffic never waits for a start: the pool
 * tracks the peak demand over a sliding window and keeps enough idle capacity to absorb that peak
 * (plus `minWarm`). Demand is the number of requests in flight: in `fresh` isolation the
 * instantaneous number (each one holds an instance), in `reuse` isolation its mean over each
 * second (demand.ts says why: on a busy host instantaneous peaks are latency, not demand). Above
 * `maxInstances` requests wait in a bounded FIFO queue; past `queueSize` they are refused with
 * `queue_full` (429). Instances idle longer than `idleTimeoutMs` are stopped down to `minWarm`
 * (0 = scale to zero). A queued request starts an instance once it has waited about a start's time
 * (see allowedStarts).
 *
 * In `fresh` isolation every request consumes an instance, so the pool's capacity is the rate at
 * which it can start instances. It keeps rate × start time instances starting or ready
 * (freshSpares, Little's law), from the offered rate and its own measured start time, within
 * `maxInstances`. A start mostly waits (a spawn, a sandbox, Node coming up), so several run on
 * one CPU; but on a host without idle CPU more starts only lengthen each one, which raises the
 * instances wanted, which lengthens them again. So starts beyond one per CPU need an idle CPU
 * (freshStartsAllowed, host-cpu.ts). A request that finds no instance is queued only as far as
 * the starts can serve it within FRESH_MAX_WAIT_MS (freshQueueLimit); past that it is refused at
 * once with `queue_full` (429) and a Retry-After, rather than left waiting seconds. That limit is
 * an estimate from the starts measured so far, so the wait itself is bounded too: a queued request
 * still waiting after FRESH_MAX_WAIT_MS is refused the same way, unless it heads the queue
 * (waitedTooLong).
 * docs/ISOLATION.md has the whole picture.
 *
 * In `reuse` isolation a spare started only as headroom (no request waits, `minWarm` is met) needs
 * an idle CPU: on a host without one it cannot add capacity, and its start (a process or a VMM
 * and a cold JIT) takes CPU from the requests in flight, which then take longer, which raises the
 * number in flight and called for more spares: one latency spike (a deploy) could grow a pool
 * and keep the host saturated. A request that has to wait for a slot still starts an instance.
 * (The operations benchmark reports the instances before and after each deploy.)
 *
 * A crashed instance is dropped (its in-flight requests fail with `function_crashed`) and the
 * spare logic starts a replacement.
 *
 * A failed start backs the pool off: no start for 1 s, doubling with each failure up to 60 s, then
 * one start at a time until one succeeds (which resets it; so does `warm()`, run by a deploy or an
 * alias move). While backed off, a request no instance can take is refused at once with the
 * generic `function_unavailable` (503, Retry-After): a version that no longer loads used to start
 * a sandbox per request, and to hand every caller the machine id, the agent's output and its
 * stack. The failure itself goes to the daemon's log and `stats().startFailure` (admin API).
 *
 * A pool created for a version that does not serve yet (a deploy's new version, an alias target
 * being warmed) is `background`: its instances start at background CPU priority so that warming
 * it does not slow down the versions serving traffic. `promote()` raises every instance (and
 * every later start) to normal priority; it is called before any alias routes to the version.
 */
import type { Logger } from '../log.ts';
import { destroyInstance, Instance, startInstance, type InstanceDeps } from './instance.ts';
import { FunctionUnavailable, InstanceUnavailable, QueueFull } from './errors.ts';
import type { VersionRecord } from './repository.ts';
import { IgnitionError, ShuttingDown } from '../errors.ts';
import { IDLE_HOST, type HostCpu } from './host-cpu.ts';
import { MeanInflight } from './demand.ts';
import { yieldToEventLoop } from '../yield.ts';
import { availableParallelism } from 'node:os';
import type { AbortLike } from '../deadline.ts';

interface Waiter {
  resolve(instance: Instance): void;
  reject(err: Error): void;
  /** When it started waiting (performance.now()). */
  since: number;
}

/**
 * How long a demand peak is remembered when sizing spares: 10 s, or the idle timeout when that is
 * shorter (a function that asks to scale to zero quickly must not be held up by old peaks).
 */
const PEAK_WINDOW_MS = 10_000;
const TICK_MS = 1000;
/** A pool that took a request this recently counts as serving traffic (see `busy`). */
const BUSY_MS = 2000;
/** Idle CPUs a headroom spare needs to start (see the header): about what one start uses. */
export const HEADROOM_IDLE_CPUS = 1;
/**
 * How long a request queued behind busy instances waits before it starts one, while the pool has
 * not measured a start yet (then: the pool's own start time, at most QUEUED_START_MAX_MS).
 */
export const QUEUED_START_DEFAULT_MS = 100;
const QUEUED_START_MAX_MS = 1000;
/** Back-off after failed starts (see the header): the first wait, and the longest. */
export const START_BACKOFF_MS = 1000;
export const START_BACKOFF_MAX_MS = 60_000;
/** Starts a deploy's `warm()` tries, back-off aside, before it fails. */
const WARM_ATTEMPTS = 3;

/**
 * How long a request in `fresh` isolation may expect to wait for an instance before it is refused
 * instead of queued (freshQueueLimit).
 */
export const FRESH_MAX_WAIT_MS = 1000;

/**
 * Pure: how many requests a `fresh` pool queues (beyond them: 429). The starts it can run at once
 * (`starts`: those in flight and those it may begin now) serve the queue in rounds of about
 * `startMs`: as many rounds as fit in `maxWaitMs`. When a start takes longer than that, only the
 * requests the starts already in flight will serve (`starting`: they began ahead of them), and
 * always one: a request that outruns nothing (an idle pool) waits for its start. No start
 * measured yet: one round.
 */
export function freshQueueLimit(s: { startMs: number; starts: number; starting: number; maxWaitMs?: number }): number {
  if (s.startMs <= 0) return Math.max(1, s.starts);
  return Math.max(1, s.starting, s.starts * Math.floor((s.maxWaitMs ?? FRESH_MAX_WAIT_MS) / s.startMs));
}

/**
 * Pure: the instances a `fresh` pool wants starting or ready ahead of its requests: the requests
 * that arrive while one start runs (rate × start time, Little's law) plus one, so that a steady
 * rate never waits for a start.
 */
export function freshSpares(s: { ratePerSec: number; startMs: number }): number {
  return s.ratePerSec > 0 ? Math.ceil((s.ratePerSec * s.startMs) / 1000) + 1 : 0;
}

/** Idle CPUs a `fresh` start beyond one per CPU needs (freshStartsAllowed). */
export const FRESH_IDLE_CPUS = 0.5;

/**
 * Pure: how many of `toStart` wanted starts a `fresh` pool begins now, with `starting` already in
 * flight: up to one per CPU always (a saturated host still makes progress), beyond that only
 * while the host has FRESH_IDLE_CPUS idle (unknown: not held back).
 */
export function freshStartsAllowed(toStart: number, s: { starting: number; cpus: number; idleCpus: number | null }): number {
  if (s.idleCpus === null || s.idleCpus >= FRESH_IDLE_CPUS) return toStart;
  return Math.min(toStart, Math.max(0, s.cpus - s.starting));
}

/**
 * Pure: the Retry-After (whole seconds, at least 1) for a request a `fresh` pool refused: about
 * the time its `starts` (see freshQueueLimit) take to serve the requests queued ahead of it.
 */
export function freshRetryAfterSeconds(s: { queued: number; startMs: number; starts: number }): number {
  const rounds = Math.ceil((s.queued + 1) / Math.max(1, s.starts));
  return Math.max(1, Math.ceil((rounds * Math.max(s.startMs, 0)) / 1000));
}

/** Pure: how long starts wait after the `failures`-th consecutive failure (1-based). */
export function startBackoffMs(failures: number): number {
  return Math.min(START_BACKOFF_MS * 2 ** Math.max(0, failures - 1), START_BACKOFF_MAX_MS);
}

/**
 * Pure: whether `toStart` wanted starts may go ahead, or (0) they only add headroom on a host
 * without an idle CPU, or while the pool is `holding` headroom (its traffic is still moving to
 * it). Starts for `minWarm` and in `fresh` isolation (every request consumes an instance) always go
 * ahead; so does any start when idle CPU is unknown.
 *
 * Requests waiting for a slot (`queued`) start instances when nothing is live, or once one of them
 * has waited about as long as a start takes (`waitedLong`, default: all of them): behind busy
 * instances a queued request is usually served within milliseconds as those in flight finish,
 * and a start helps only if the wait outlasts it. Starting at once for every queued request feeds
 * a spiral under steady load: a short stall puts many requests in flight on one instance, the
 * next ones queue, and the instances started for them (each a process start) make the stall
 * longer.
 */
export function allowedStarts(
  toStart: number,
  s: { fresh: boolean; queued: number; waitedLong?: number; live: number; minWarm: number; idleCpus: number | null; holding?: boolean },
): number {
  if (toStart === 0 || s.fresh || s.live < s.minWarm) return toStart;
  if (s.queued > 0) return s.live === 0 || (s.waitedLong ?? s.queued) > 0 ? toStart : 0;
  if (s.holding) return 0;
  if (s.idleCpus === null) return toStart;
  return s.idleCpus >= HEADROOM_IDLE_CPUS ? toStart : 0;
}

/**
 * Pure: the idle request slots a pool counts against the headroom it wants (dead and retiring
 * instances do not count). In `fresh` isolation, instances that have not served yet. In `reuse`
 * isolation, the slots of the live instances less
 * the mean number in flight over the last second (`sustainedInflight`), not the number in flight
 * right now: a stall on a busy host puts requests in flight without more demand (demand.ts), and
 * counted as such it would start a headroom instance at exactly the wrong time: right after a
 * deploy's answer, as the replacement spare starts, a short stall puts many requests in flight on
 * the one instance, and a second instance would be a cold process start at normal priority. A
 * burst that fills every slot queues requests, and those start instances (allowedStarts).
 */
export function freeSlots(
  instances: Iterable<{ inflight: number; served: number; dead?: boolean; retiring?: boolean }>,
  s: { fresh: boolean; concurrency: number; sustainedInflight: number },
): number {
  // A plain loop: this runs on every acquire and release.
  let live = 0;
  let unserved = 0;
  for (const i of instances) {
    if (i.dead || i.retiring) continue;
    live++;
    if (i.served === 0) unserved++;
  }
  if (s.fresh) return unserved;
  return Math.max(0, live * s.concurrency - Math.ceil(s.sustainedInflight));
}

export interface PoolStats {
  version: string;
  instances: number;
  starting: number;
  idle: number;
  inflight: number;
  queued: number;
  /** While starts fail: the last failure as the daemon saw it, and when starts resume. Admin only. */
  startFailure?: StartFailure;
}

export interface StartFailure {
  code: string;
  detail: string;
  /** The failure's own fields (machine id, the agent's last output lines…). */
  data: Record<string, unknown>;
  /** Consecutive failed starts. */
  failures: number;
  at: string;
  retryAt: string;
}

export class Pool {
  private readonly instances = new Set<Instance>();
  private starting = 0;
  private readonly queue: Waiter[] = [];
  private closed = false;
  private peak = 0;
  /** Mean requests in flight over the last tick (reuse isolation's idle slots: freeSlots). */
  private sustainedInflight = 0;
  private previousPeak = 0;
  private peakWindowStart = Date.now();
  private readonly timer: NodeJS.Timeout;
  private lastStartError: IgnitionError | undefined;
  private lastFailedAt = 0;
  /** Consecutive failed starts, and when (Date.now()) starts may resume. */
  private failures = 0;
  private retryAt = 0;
  /** `warm()` calls in progress: they start instances whatever the back-off. */
  private warming = 0;
  /** Requests taken since the last tick, their smoothed rate (per second), and start time (ms). */
  private arrivals = 0;
  private arrivalRate = 0;
  private startMs = 0;
  private background: boolean;
  private lastTaken = -Infinity;
  private readonly hostCpu: HostCpu;
  private holding = false;
  /** Requests in flight over time, for the per-second mean (`reuse` demand). */
  private readonly meanInflight = new MeanInflight(performance.now());
  /** The host's CPUs: the starts a `fresh` pool runs at once even without idle CPU (see the header). */
  private readonly cpus: number;

  constructor(
    readonly version: VersionRecord,
    private readonly deps: InstanceDeps,
    private readonly logger: Logger,
    options: { background?: boolean; hostCpu?: HostCpu; cpus?: number } = {},
  ) {
    this.background = options.background ?? false;
    this.hostCpu = options.hostCpu ?? IDLE_HOST;
    this.cpus = Math.max(1, options.cpus ?? availableParallelism());
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private get settings() {
    return this.version.settings;
  }

  private get fresh() {
    return this.settings.isolation === 'fresh';
  }

  /** Adopts an already started instance (the deploy's build machine, when it can serve). */
  adopt(instance: Instance) {
    this.watch(instance);
    this.instances.add(instance);
    this.dispatch();
  }

  /** Whether this version is serving: a request in flight, or one taken in the last BUSY_MS. */
  get busy(): boolean {
    return this.inflightTotal() > 0 || performance.now() - this.lastTaken < BUSY_MS;
  }

  /**
   * The version is about to serve: every instance goes to normal CPU priority, and so do the ones
   * still starting (when they are up) and every later start. Idempotent.
   */
  promote() {
    if (!this.background) return;
    this.background = false;
    for (const inst of this.instances) inst.machine.setPriority?.('normal');
  }

  /**
   * While traffic moves to this version (a deploy's slow start), no spare is started as headroom:
   * its in-flight peaks then come from its instances' cold JIT and from the deploy itself, not
   * from demand, and a second instance's start and cold JIT would land on the shift. Ending the
   * hold forgets those peaks. Requests that wait for a slot still start instances.
   */
  holdHeadroom(on: boolean) {
    if (this.holding === on) return;
    this.holding = on;
    if (!on) {
      this.previousPeak = 0;
      this.peak = this.fresh ? this.inflightTotal() : 0;
      this.peakWindowStart = Date.now();
      this.meanInflight.reset(performance.now());
    }
  }

  /**
   * Starts `minWarm` instances (and waits for them) so a new version serves at once. An operator
   * asked for it (a deploy, an alias move): the back-off is reset and ignored, and the error of
   * the last of WARM_ATTEMPTS failed starts is thrown in full (it goes to the admin API).
   */
  async warm(): Promise<void> {
    this.failures = 0;
    this.retryAt = 0;
    this.warming++;
    try {
      this.ensureCapacity();
      const target = Math.min(this.settings.minWarm, this.settings.maxInstances);
      while (!this.closed && this.instances.size < target) {
        if (this.failures >= WARM_ATTEMPTS) throw this.lastStartError ?? InstanceUnavailable(`could not start instances of ${this.version.fn}`);
        await new Promise((r) => setTimeout(r, 10));
        // A background pool starts one at a time: the next as soon as the last is up.
        this.ensureCapacity();
      }
    } finally {
      this.warming--;
    }
  }

  /**
   * An instance with room for one more request; waits (bounded) when none is free. `cold` tells
   * whether the request had to wait for an instance (a start, or a busy pool at its maximum).
   */
  acquire(signal?: AbortLike): Promise<{ inst: Instance; cold: boolean }> {
    if (this.closed) return Promise.reject(ShuttingDown(`version ${this.version.id} of ${this.version.fn} is no longer served`));
    // Offered demand, refused requests included: it sizes a fresh pool's starts (capped by the host).
    this.arrivals++;
    const inst = this.pick();
    if (inst) {
      this.take(inst);
      this.ensureCapacity();
      return Promise.resolve({ inst, cold: false });
    }
    if (this.refusing()) return Promise.reject(this.unavailable());
    if (
      this.fresh &&
      this.queue.length >=
        Math.min(this.settings.queueSize + this.startable(), freshQueueLimit({ startMs: this.startMs, starts: this.freshStarts(), starting: this.starting }))
    ) {
      // Kept starting at the host's rate (ensureCapacity), for the requests after this one.
      this.ensureCapacity();
      return Promise.reject(this.freshRefusal(this.queue.length));
    }
    if (this.queue.length >= this.settings.queueSize + this.startable()) {
      return Promise.reject(
        QueueFull(`function ${this.version.fn} is at its limit of ${this.settings.maxInstances} instances and ${this.settings.queueSize} queued requests`, {
          data: { retryAfterSeconds: 1, maxInstances: this.settings.maxInstances, queueSize: this.settings.queueSize },
        }),
      );
    }
    return new Promise<{ inst: Instance; cold: boolean }>((resolve, reject) => {
      let bound: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        resolve: (inst) => {
          clearTimeout(bound);
          resolve({ inst, cold: true });
        },
        reject: (err) => {
          clearTimeout(bound);
          reject(err);
        },
        since: performance.now(),
      };
      this.queue.push(waiter);
      // The queue's size is an estimate from the starts measured so far; when starts take longer
      // (a busy host, cold starts where adoptions were measured), this bounds the wait itself.
      if (this.fresh) bound = setTimeout(() => this.waitedTooLong(waiter), FRESH_MAX_WAIT_MS).unref();
      // Looked at again once it has waited about a start's time (allowedStarts).
      setTimeout(() => this.queue.includes(waiter) && this.ensureCapacity(), this.queuedStartAfterMs()).unref();
      signal?.addEventListener('abort', () => {
        const i = this.queue.indexOf(waiter);
        if (i !== -1) {
          this.queue.splice(i, 1);
          waiter.reject(signal.reason as Error);
        }
      });
      this.ensureCapacity();
    });
  }

  /**
   * A `fresh` request queued for FRESH_MAX_WAIT_MS is refused (429, Retry-After) unless it heads
   * the queue: the next instance up is its own, and some request must wait for it, or a pool
   * whose starts all take longer than the bound would never serve one. The start begun for a
   * refused request goes on and serves a later one.
   */
  private waitedTooLong(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter);
    if (i <= 0) return;
    this.queue.splice(i, 1);
    waiter.reject(this.freshRefusal(i));
  }

  /** The 429 of a `fresh` request refused with `ahead` requests queued before it. */
  private freshRefusal(ahead: number): IgnitionError {
    const seconds = freshRetryAfterSeconds({ queued: ahead, startMs: this.startMs, starts: this.freshStarts() });
    return QueueFull(`function ${this.version.fn} gets requests faster than instances can start for them (fresh isolation); try again in ${seconds} s`, {
      data: { retryAfterSeconds: seconds, isolation: 'fresh', queued: ahead },
    });
  }

  /** Returns an instance after a request. `retire` recycles it (timeout, protocol error). */
  release(inst: Instance, options: { retire?: boolean } = {}) {
    inst.inflight--;
    inst.lastUsed = Date.now();
    this.meanInflight.set(this.inflightTotal(), performance.now());
    if (options.retire) inst.retiring = true;
    if (this.settings.isolation === 'fresh' || inst.retiring || inst.dead) {
      if (inst.inflight === 0) void this.drop(inst);
    }
    this.dispatch();
    this.ensureCapacity();
  }

  stats(): PoolStats {
    let idle = 0;
    let inflight = 0;
    for (const i of this.instances) {
      inflight += i.inflight;
      if (i.inflight === 0 && !i.retiring) idle++;
    }
    const stats: PoolStats = { version: this.version.id, instances: this.instances.size, starting: this.starting, idle, inflight, queued: this.queue.length };
    if (this.failures > 0 && this.lastStartError) {
      const err = this.lastStartError;
      stats.startFailure = {
        code: err.code,
        detail: err.message,
        data: err.data,
        failures: this.failures,
        at: new Date(this.lastFailedAt).toISOString(),
        retryAt: new Date(Math.max(this.retryAt, this.lastFailedAt)).toISOString(),
      };
    }
    return stats;
  }

  list(): Instance[] {
    return [...this.instances];
  }

  /** Instance start times (restore to healthy agent) are reported here. */
  onStarted: ((inst: Instance) => void) | undefined;

  /** Stops taking requests, lets in-flight ones finish (bounded), destroys every instance. */
  async drain(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const w of this.queue.splice(0)) w.reject(ShuttingDown(`version ${this.version.id} of ${this.version.fn} stopped serving`));
    const deadline = Date.now() + graceMs;
    while ([...this.instances].some((i) => i.inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Each stop begins in its own turn of the event loop (yield.ts): a version's drain is no
    // reason to hold up the requests of the ones serving.
    const drops: Promise<void>[] = [];
    for (const i of [...this.instances]) {
      await yieldToEventLoop();
      drops.push(this.drop(i));
    }
    await Promise.all(drops);
    while (this.starting > 0) await new Promise((r) => setTimeout(r, 10));
  }

  // ---- internals -------------------------------------------------------------------------------

  private pick(): Instance | undefined {
    const fresh = this.settings.isolation === 'fresh';
    let best: Instance | undefined;
    for (const i of this.instances) {
      if (i.dead || i.retiring) continue;
      if (fresh ? i.served > 0 || i.inflight > 0 : i.inflight >= this.settings.concurrency) continue;
      // Least loaded first: spreads latency; idle ones still age out through the tick.
      if (!best || i.inflight < best.inflight) best = i;
    }
    return best;
  }

  private take(inst: Instance) {
    this.lastTaken = performance.now();
    inst.inflight++;
    inst.served++;
    inst.lastUsed = Date.now();
    const inflight = this.inflightTotal();
    this.meanInflight.set(inflight, performance.now());
    if (this.fresh && inflight > this.peak) this.peak = inflight;
  }

  private inflightTotal() {
    let n = 0;
    for (const i of this.instances) n += i.inflight;
    return n;
  }

  private startable() {
    return Math.max(0, this.settings.maxInstances - this.instances.size - this.starting);
  }

  /** Serves queued requests from instances that have room. */
  private dispatch() {
    while (this.queue.length) {
      const inst = this.pick();
      if (!inst) return;
      this.take(inst);
      this.queue.shift()!.resolve(inst);
    }
  }

  /** Idle capacity (in requests) the pool should hold right now. */
  private wantedSpare(): number {
    const recentPeak = Math.max(this.peak, this.previousPeak);
    let spare = Math.max(this.settings.minWarm > 0 ? 1 : 0, recentPeak > 0 ? Math.min(recentPeak, this.settings.concurrency) : 0, this.queue.length);
    if (this.fresh) spare = Math.max(spare, freshSpares({ ratePerSec: this.arrivalRate, startMs: this.startMs }));
    return spare;
  }

  private ensureCapacity() {
    if (this.closed) return;
    const fresh = this.settings.isolation === 'fresh';
    const perInstance = fresh ? 1 : this.settings.concurrency;
    let count = 0;
    for (const i of this.instances) if (!i.dead && !i.retiring) count++;
    const spare =
      freeSlots(this.instances, { fresh, concurrency: this.settings.concurrency, sustainedInflight: this.sustainedInflight }) + this.starting * perInstance;
    const minCount = this.settings.minWarm;
    let toStart = 0;
    const need = this.wantedSpare() + (fresh ? Math.max(0, this.settings.minWarm - 1) : 0);
    while (spare + toStart * perInstance < need || count + this.starting + toStart < minCount) {
      if (this.startable() - toStart <= 0) break;
      toStart++;
    }
    if (toStart > 0) {
      const longer = performance.now() - this.queuedStartAfterMs();
      const waitedLong = this.queue.filter((w) => w.since <= longer).length;
      toStart = allowedStarts(toStart, {
        fresh,
        queued: this.queue.length,
        waitedLong,
        live: count + this.starting,
        minWarm: minCount,
        idleCpus: fresh || this.holding ? null : this.hostCpu.idleCpus(),
        holding: this.holding,
      });
    }
    // After a failed start: none until the back-off ends, then one at a time until one succeeds.
    if (this.failures > 0) toStart = this.backedOff() ? 0 : Math.min(toStart, this.starting === 0 ? 1 : 0);
    // A version that does not serve yet warms one instance at a time: background starts in
    // parallel would each take a core the serving path shares (on a small host, a busy core slows
    // its neighbour even at a low priority).
    if (this.background) toStart = Math.min(toStart, this.starting === 0 ? 1 : 0);
    // On a host without idle CPU, more fresh starts only slow each other down (see the header).
    if (fresh && toStart > 0) toStart = freshStartsAllowed(toStart, { starting: this.starting, cpus: this.cpus, idleCpus: this.hostCpu.idleCpus() });
    for (let k = 0; k < toStart; k++) this.startOne();
  }

  /** Whether starts wait for the back-off (see the header); never while a deploy warms the pool. */
  private backedOff(): boolean {
    return this.failures > 0 && this.warming === 0 && Date.now() < this.retryAt;
  }

  /**
   * Whether a request no instance can take now is refused rather than queued: starts are backed
   * off, none is on its way, and no instance will free a slot for it (in `fresh` isolation a used
   * instance never does).
   */
  private refusing(): boolean {
    if (!this.backedOff() || this.starting > 0) return false;
    if (this.fresh) return true;
    for (const i of this.instances) if (!i.dead && !i.retiring) return false;
    return true;
  }

  /** The answer to callers while starts fail: nothing of the failure itself (see the header). */
  private unavailable(): IgnitionError {
    const seconds = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
    return FunctionUnavailable(`function ${this.version.fn} cannot start an instance now; try again in ${seconds} s`, {
      data: { function: this.version.fn, retryAfterSeconds: seconds },
    });
  }

  /**
   * The starts a `fresh` pool can run at once to serve its queue: those in flight and those
   * `maxInstances` still allows, no more than freshStartsAllowed lets begin now.
   */
  private freshStarts(): number {
    const more = freshStartsAllowed(this.startable(), { starting: this.starting, cpus: this.cpus, idleCpus: this.hostCpu.idleCpus() });
    return this.starting + more;
  }

  /** How long a queued request waits before it starts an instance (see allowedStarts). */
  private queuedStartAfterMs(): number {
    return this.startMs > 0 ? Math.min(this.startMs, QUEUED_START_MAX_MS) : QUEUED_START_DEFAULT_MS;
  }

  private startOne() {
    this.starting++;
    const began = performance.now();
    const priority = this.background ? 'background' : 'normal';
    startInstance(this.version, this.deps, priority).then(
      (inst) => {
        this.starting--;
        // Promoted while this one started: it must not serve at background priority.
        if (priority === 'background' && !this.background) inst.machine.setPriority?.('normal');
        // A moving average of how long a start takes, for sizing spares.
        this.startMs = this.startMs === 0 ? performance.now() - began : 0.7 * this.startMs + 0.3 * (performance.now() - began);
        this.failures = 0;
        this.retryAt = 0;
        if (this.closed) {
          void destroyInstance(inst, this.deps);
          return;
        }
        this.watch(inst);
        this.instances.add(inst);
        this.onStarted?.(inst);
        this.dispatch();
      },
      (err: Error) => {
        this.starting--;
        // Starts already on their way when one failed fail for the same reason, most likely: they
        // do not lengthen the back-off that failure began.
        if (!this.backedOff()) {
          this.failures++;
          this.retryAt = Date.now() + startBackoffMs(this.failures);
        }
        this.lastFailedAt = Date.now();
        this.lastStartError =
          err instanceof IgnitionError ? err : InstanceUnavailable(`could not start an instance of ${this.version.fn}: ${err.message}`, { cause: err });
        this.logger.error('instance start failed', {
          fn: this.version.fn,
          version: this.version.id,
          failures: this.failures,
          retryInMs: this.retryAt - Date.now(),
          err,
        });
        this.deps.logs.system(this.version.fn, 'error', `instance start failed: ${err.message}`, { version: this.version.id });
        // Waiting requests no instance will serve: refused now, not at their timeout.
        if (this.refusing()) for (const w of this.queue.splice(0)) w.reject(this.unavailable());
        if (!this.closed) this.ensureCapacity();
      },
    );
  }

  private watch(inst: Instance) {
    void inst.machine.exited.then(() => {
      if (inst.dead) return;
      inst.dead = true;
      this.logger.warn('instance exited', { vm: inst.id, fn: this.version.fn });
      this.deps.logs.system(this.version.fn, 'error', `instance ${inst.id} exited unexpectedly; replacing it`, { version: this.version.id, machine: inst.id });
      if (inst.inflight === 0) void this.drop(inst);
      this.ensureCapacity();
    });
  }

  /** Never rejects: callers fire and forget it, and a failed teardown must not end the daemon. */
  private drop(inst: Instance): Promise<void> {
    if (!this.instances.delete(inst) && inst.dead) return Promise.resolve();
    return destroyInstance(inst, this.deps).catch((err) => this.logger.warn('could not destroy an instance', { vm: inst.id, fn: this.version.fn, err }));
  }

  private tick() {
    const now = Date.now();
    // Reuse demand: the mean in flight over the last tick (any traffic at all counts as 1).
    const mean = this.meanInflight.take(performance.now());
    this.sustainedInflight = mean;
    if (!this.fresh) this.peak = Math.max(this.peak, Math.ceil(mean));
    // Requests per second, smoothed over a few ticks.
    this.arrivalRate = 0.5 * this.arrivalRate + (0.5 * (this.arrivals * 1000)) / TICK_MS;
    this.arrivals = 0;
    if (now - this.peakWindowStart >= Math.min(PEAK_WINDOW_MS, Math.max(this.settings.idleTimeoutMs, TICK_MS))) {
      this.previousPeak = this.peak;
      this.peak = this.fresh ? this.inflightTotal() : 0;
      this.peakWindowStart = now;
    }
    // Scale down idle instances beyond what minWarm and recent demand call for.
    const fresh = this.settings.isolation === 'fresh';
    const keep = Math.max(this.settings.minWarm, fresh ? this.wantedSpare() : Math.ceil(this.wantedSpare() / this.settings.concurrency));
    const idle = [...this.instances].filter((i) => i.inflight === 0 && !i.retiring).sort((a, b) => a.lastUsed - b.lastUsed);
    let live = [...this.instances].filter((i) => !i.retiring).length;
    for (const inst of idle) {
      if (live <= keep) break;
      if (now - inst.lastUsed < this.settings.idleTimeoutMs) continue;
      live--;
      void this.drop(inst);
    }
    // A failing pool tries again here once its back-off is over (ensureCapacity): at most one
    // start per back-off, so a version that recovers (a dependency back) serves again unasked.
    this.ensureCapacity();
  }
}
