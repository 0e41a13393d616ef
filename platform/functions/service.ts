/**
 * The function service: deploy, list, inspect, remove, and the pools that serve each version.
 *
 * Deploy order (so that no request fails or waits during a deploy): build the golden snapshot →
 * warm the new version's pool to `minWarm` → raise its instances to normal CPU priority → commit
 * the version and move the alias in one transaction → drain pools no alias points at any more. A
 * failed deploy changes nothing that serves: the previous version keeps its alias and its
 * instances. When the daemon is serving traffic (any pool took a request in the last 2 s), the
 * build machine and the new pool run at background CPU priority until the alias moves, so the
 * deploy takes the host's spare CPU rather than the serving path's; with no traffic there is
 * nothing to protect and the deploy runs at full speed.
 *
 * Slow start: where an instance start is a fresh process (the `artifact` golden of the process
 * driver), a new instance's JIT is cold and its first few thousand requests cost several times the
 * CPU of later ones. When the alias being moved is carrying traffic, the deploy therefore shifts
 * that traffic over `SLOW_START_MS` (the share sent to the new version rising linearly from 0 to
 * 100%) while the previous version keeps serving the rest, and answers once the shift is complete.
 * Any other change to the function's aliases ends the shift at once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FunctionSettings, IgnitionConfig } from '../config/schema.ts';
import { checkEffectiveSettings, validateFunctionSettings, type StatedSettings } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Registry } from '../registry/registry.ts';
import type { MachineDriver } from '../vmm/port.ts';
import type { MachineRecords } from '../vmm/records.ts';
import { BadRequest } from '../errors.ts';
import { buildGolden } from './golden.ts';
import { Instance } from './instance.ts';
import type { LogSink } from './logs.ts';
import { assertAliasName, assertFunctionName } from './names.ts';
import { applyEnvPatch, diffEnv, validateEnv, validateEnvPatch, type EnvChanges } from './env.ts';
import { Pool, type PoolStats } from './pool.ts';
import { procHostCpu, type HostCpu } from './host-cpu.ts';
import { FunctionRepository, type AliasRoute, type VersionRecord } from './repository.ts';
import { FunctionNotFound, VersionNotFound } from './errors.ts';
import type { PlatformMetrics } from '../metrics.ts';
import type { SecretStore } from '../secrets/index.ts';
import { yieldToEventLoop } from '../yield.ts';
import { RecentInvocations } from './recent.ts';

/** How long a deploy takes to shift an alias's traffic to a new version (see slow start above). */
export const SLOW_START_MS = 4000;

/** An alias's traffic moving from the routes it had (`from`) to those now stored for it. */
interface SlowStart {
  from: { routes: AliasRoute[]; versions: VersionRecord[] };
  start: number;
  ms: number;
  /** Ends the shift early (another alias change). */
  end(): void;
}

/**
 * The body of `POST /v1/functions/:name/deployments` (the CLI's client sends exactly this).
 *
 * A deploy starts from the version its alias routes to (the heaviest route of a split; `latest`'s
 * for a new alias), as a code update on Lambda keeps the function's configuration: settings and
 * environment it does not state are that version's.
 */
export interface DeployRequest {
  /**
   * The bundled function (ESM). Left out, the deploy is a configuration change: the code of the
   * version it starts from is deployed again with the changed `env`, `envPatch` or `settings`.
   */
  code?: string;
  map?: string;
  entry?: string;
  /**
   * Settings declared by the function (package.json / ignition.json) and deploy flags, merged. A
   * value replaces the previous version's, null returns the setting to the daemon's default, and a
   * setting left out keeps the previous version's value.
   */
  settings?: Record<string, unknown>;
  /** The whole environment, in place of the previous version's. Left out, that one is kept. */
  env?: Record<string, string>;
  /** Changes to the environment, applied after `env`: a string sets a name, null removes it. */
  envPatch?: Record<string, string | null>;
  alias?: string;
}

export interface DeployInput extends DeployRequest {
  name: string;
}

/** What a deploy changed against the version it started from (env names only, never values). */
export interface DeployChanges {
  env: EnvChanges;
  settings: Array<{ name: string; from: unknown; to: unknown }>;
}

export interface DeployResult {
  function: string;
  version: VersionRecord;
  created: boolean;
  changes: DeployChanges;
  timings: Array<{ step: string; ms: number }>;
}

export interface FunctionServiceDeps {
  config: IgnitionConfig;
  driver: MachineDriver;
  registry: Registry;
  repo: FunctionRepository;
  records: MachineRecords;
  logs: LogSink;
  logger: Logger;
  workspacesDir: string;
  baseImage?: Record<string, string>;
  metrics?: PlatformMetrics;
  /** Secrets are handed to instances after each restore, never baked into a snapshot. */
  secrets?: SecretStore;
  /** The host's idle CPU, which headroom spares need (pool.ts); /proc/stat unless given. */
  hostCpu?: HostCpu;
}

export class FunctionService {
  private readonly pools = new Map<string, Pool>();
  /** Called after a function is removed (other capabilities drop what they keep for it). */
  onRemove: ((fn: string) => void) | undefined;
  /** Listeners of `removed` (followed log streams end there). */
  private readonly removedListeners = new Set<(fn: string) => void>();
  /** Serialises deploys per function: two racing deploys must not interleave alias moves. */
  private readonly deploying = new Map<string, Promise<unknown>>();
  private readonly routeCache = new Map<string, { routes: AliasRoute[]; versions: VersionRecord[] }>();
  /** Traffic shifts in progress, by `fn\0alias`. */
  private readonly shifts = new Map<string, SlowStart>();
  private readonly hostCpu: HostCpu;
  /** The latest invocations through /fn and how they ended (the web console's Invocations page). */
  readonly recent = new RecentInvocations();

  /** Where platform-side lines about a function go (the invoker reports lost instances there). */
  get logs(): LogSink {
    return this.deps.logs;
  }

  constructor(private readonly deps: FunctionServiceDeps) {
    this.hostCpu = deps.hostCpu ?? procHostCpu();
    this.hostCpu.idleCpus(); // starts sampling, so the first decision has a reading to go by
  }

  get repo() {
    return this.deps.repo;
  }

  async deploy(input: DeployInput): Promise<DeployResult> {
    const name = assertFunctionName(input.name);
    const prior = this.deploying.get(name) ?? Promise.resolve();
    const run = prior
      .catch(() => {})
      .then(async () => {
        // The build adopts a spare machine where the driver keeps them; its replacement waits until
        // the deploy is done, traffic shift included (port.ts, holdSpares).
        const release = this.deps.driver.holdSpares?.();
        try {
          return await this.deployNow(name, input);
        } finally {
          release?.();
        }
      });
    this.deploying.set(name, run);
    try {
      return await run;
    } finally {
      if (this.deploying.get(name) === run) this.deploying.delete(name);
    }
  }

  private async deployNow(name: string, input: DeployInput): Promise<DeployResult> {
    const alias = input.alias === undefined ? 'latest' : assertAliasName(input.alias);
    const base = this.baseVersion(name, alias);
    const { code, map, entry } = await this.codeOf(name, input, base);
    // Checked before anything is built: both end up in machines' environments, URLs and logs.
    const patch = validateEnvPatch(input.envPatch);
    const env = validateEnv(applyEnvPatch(input.env === undefined ? (base?.env ?? {}) : validateEnv(input.env), patch));
    const stated = mergeStated(base ? this.statedOf(base) : {}, validateFunctionSettings(input.settings ?? {}, 'deploy'));
    const settings = checkEffectiveSettings({ ...this.deps.config.functions, ...stated }, 'deploy');
    const changes: DeployChanges = { env: diffEnv(base?.env ?? {}, env), settings: base ? diffSettings(base.settings, settings) : [] };
    const digest = createHash('sha256')
      .update(code)
      .update('\0')
      .update(map)
      .update('\0')
      .update(JSON.stringify(settings))
      .update('\0')
      .update(JSON.stringify(sortKeys(env)))
      .digest('hex');
    const bundleDigest = createHash('sha256').update(code).digest('hex');
    const existing = this.deps.repo.findVersionByDigest(name, digest);
    if (existing && this.deps.registry.find(existing.snapshotId)) {
      // Same content: nothing to build; just make sure the alias points at it.
      await this.prewarm(existing);
      this.deps.repo.setAlias(name, alias, [{ version: existing.id, weight: 100 }]);
      this.invalidate(name);
      await this.drainUnreferenced(name);
      return { function: name, version: existing, created: false, changes, timings: [] };
    }
    const versionId = `ver_${createHash('sha256').update(name).update('\0').update(digest).digest('hex').slice(0, 20)}`;
    const priority = this.serving() ? 'background' : 'normal';
    const golden = await buildGolden(
      { fn: name, versionId, code, map, entry, settings, env, priority },
      {
        driver: this.deps.driver,
        registry: this.deps.registry,
        records: this.deps.records,
        workspacesDir: this.deps.workspacesDir,
        baseImage: this.deps.baseImage,
        onOutput: (machine, line) => this.deps.logs.ingest({ fn: name, version: versionId, machine }, line),
      },
    );
    const draft: VersionRecord = {
      id: versionId,
      fn: name,
      seq: 0,
      digest,
      bundleDigest,
      snapshotId: golden.snapshot.id,
      settings,
      statedSettings: stated,
      env,
      createdAt: Date.now(),
    };
    const pool = this.pool(draft, { background: priority === 'background' });
    if (golden.machine && golden.client) {
      this.deps.records.update(golden.machine.id, { state: 'running' });
      pool.adopt(new Instance(golden.machine, golden.client, draft, golden.timings));
    }
    const t = performance.now();
    try {
      await pool.warm();
    } catch (err) {
      // The new version cannot serve: leave the old one in place and clean up the new one.
      await this.closePool(pool, 0);
      this.deps.registry.remove(golden.snapshot.id, { force: true });
      throw err;
    }
    golden.timings.push({ step: 'warm-pool', ms: performance.now() - t });
    pool.promote();
    await yieldToEventLoop();
    const previous = this.slowStartFrom(name, alias, versionId);
    const version = this.deps.repo.commitDeployment({ ...draft, alias });
    Object.assign(draft, version);
    this.invalidate(name);
    if (previous) {
      const t1 = performance.now();
      pool.holdHeadroom(true);
      try {
        await this.shift(name, alias, previous);
      } finally {
        pool.holdHeadroom(false);
      }
      golden.timings.push({ step: 'slow-start', ms: performance.now() - t1 });
    }
    await yieldToEventLoop();
    await this.drainUnreferenced(name);
    this.deps.logger.info('deployed', { fn: name, version: version.id, seq: version.seq, timings: golden.timings });
    return { function: name, version, created: true, changes, timings: golden.timings };
  }

  /**
   * The version a deploy to `alias` starts from: the one the alias routes to (the heaviest route
   * of a split), or `latest`'s for an alias that does not exist yet; none for a new function.
   */
  private baseVersion(name: string, alias: string): VersionRecord | undefined {
    const a = this.deps.repo.getAlias(name, alias) ?? this.deps.repo.getAlias(name, 'latest');
    if (!a || a.routes.length === 0) return undefined;
    const heaviest = a.routes.reduce((x, y) => (y.weight > x.weight ? y : x));
    return this.deps.repo.getVersion(heaviest.version);
  }

  /** The settings a version's deploys stated; for versions stored before that was kept, those that differ from today's defaults. */
  private statedOf(version: VersionRecord): Partial<FunctionSettings> {
    if (version.statedSettings) return version.statedSettings;
    const defaults = this.deps.config.functions as unknown as Record<string, unknown>;
    return Object.fromEntries(Object.entries(version.settings).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(defaults[k])));
  }

  /** The deploy's code, or for a configuration change the code of the version it starts from. */
  private async codeOf(name: string, input: DeployInput, base: VersionRecord | undefined): Promise<{ code: string; map: string; entry: string }> {
    if (input.code !== undefined) {
      if (typeof input.code !== 'string' || input.code.length === 0) throw BadRequest('"code" must be the bundled function (ESM), a non-empty string');
      return { code: input.code, map: input.map ?? '', entry: input.entry ?? 'index' };
    }
    if (input.env === undefined && input.envPatch === undefined && input.settings === undefined) {
      throw BadRequest('a deployment needs "code" (the bundled function), or a configuration change ("env", "envPatch" or "settings") of the deployed code');
    }
    if (!base) throw FunctionNotFound(`no function named "${name}" to change the configuration of; deploy its code first`, { data: { function: name } });
    const snapshot = this.deps.registry.find(base.snapshotId);
    if (!snapshot) throw VersionNotFound(`version v${base.seq} of "${name}" has lost its golden snapshot; deploy its code again`, { data: { function: name } });
    const files = this.deps.registry.filePaths(snapshot);
    const [code, map] = await Promise.all([readFile(files.bundle, 'utf8'), files.sourcemap ? readFile(files.sourcemap, 'utf8') : '']);
    return { code, map, entry: typeof snapshot.config.entry === 'string' ? snapshot.config.entry : 'index' };
  }

  /** Finds a version by `3`, `v3`, or its id. */
  resolveVersion(name: string, ref: string | number): VersionRecord {
    this.requireFunction(name);
    const text = String(ref);
    const seq = /^v?(\d+)$/.exec(text);
    const v = seq ? this.deps.repo.findVersionBySeq(name, Number(seq[1])) : this.deps.repo.getVersion(text);
    if (!v || v.fn !== name) throw VersionNotFound(`function "${name}" has no version ${text}`, { data: { function: name, version: text } });
    return v;
  }

  /**
   * Points an alias at one version, or splits its traffic between two by weight (summing to 100).
   * The target versions' pools are warmed first, so the switch never makes a request wait.
   */
  async setAlias(name: string, alias: string, routes: Array<{ version: string | number; weight: number }>) {
    const versions = this.checkAlias(name, alias, routes);
    for (const v of versions) {
      if (!this.deps.registry.find(v.snapshotId)) throw VersionNotFound(`version v${v.seq} of "${name}" has lost its golden snapshot; redeploy it`);
      await this.prewarm(v);
    }
    const record = this.deps.repo.setAlias(
      name,
      alias,
      versions.map((v, i) => ({ version: v.id, weight: routes[i].weight })),
    );
    this.invalidate(name);
    await this.drainUnreferenced(name);
    return { ...record, routes: record.routes.map((r, i) => ({ ...r, seq: versions[i].seq })) };
  }

  /**
   * What `setAlias` checks before it changes anything: the alias's name, one or two routes, whole
   * weights from 0 to 100 that sum to 100, and two different versions of this function. Returns
   * the versions; the web console calls it to confirm a change before it asks for it.
   */
  checkAlias(name: string, alias: string, routes: Array<{ version: string | number; weight: number }>): VersionRecord[] {
    assertAliasName(alias);
    if (!Array.isArray(routes) || routes.length < 1 || routes.length > 2) throw BadRequest('an alias routes to one version, or splits traffic between two');
    for (const r of routes) {
      if (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 100)
        throw BadRequest(`weight ${JSON.stringify(r.weight)} must be an integer from 0 to 100`);
    }
    const total = routes.reduce((n, r) => n + r.weight, 0);
    if (total !== 100) throw BadRequest(`traffic weights must sum to 100 (they sum to ${total})`, { data: { weights: routes.map((r) => r.weight) } });
    const versions = routes.map((r) => this.resolveVersion(name, r.version));
    if (versions.length === 2 && versions[0].id === versions[1].id) throw BadRequest('a traffic split needs two different versions');
    return versions;
  }

  /** Moves `latest` back to the version before the current one, or to `to`. */
  async rollback(name: string, to?: string | number) {
    const current = this.routes(name, 'latest').versions[0];
    let target: VersionRecord | undefined;
    if (to !== undefined) target = this.resolveVersion(name, to);
    else target = this.deps.repo.listVersions(name).find((v) => v.seq < current.seq);
    if (!target) throw VersionNotFound(`function "${name}" has no version before v${current.seq} to roll back to`, { data: { function: name } });
    const moved = { function: name, from: { id: current.id, seq: current.seq }, to: { id: target.id, seq: target.seq } };
    const now = this.deps.repo.getAlias(name, 'latest');
    if (now && now.routes.length === 1 && now.routes[0].version === target.id) {
      // Already there: nothing moves, and nothing is drained or warmed.
      return { ...moved, changed: false, alias: { ...now, routes: now.routes.map((r) => ({ ...r, seq: target.seq })) } };
    }
    const alias = await this.setAlias(name, 'latest', [{ version: target.id, weight: 100 }]);
    return { ...moved, changed: true, alias };
  }

  async removeAlias(name: string, alias: string) {
    if (alias === 'latest') throw BadRequest('the alias "latest" cannot be removed; deploy or roll back to move it');
    if (!this.deps.repo.getAlias(name, alias)) throw VersionNotFound(`function "${name}" has no alias "${alias}"`);
    this.deps.repo.deleteAlias(name, alias);
    this.invalidate(name);
    await this.drainUnreferenced(name);
    return { removed: alias };
  }

  /** The versions an alias routes to, with weights (cached; invalidated on every change). */
  routes(name: string, alias = 'latest'): { routes: AliasRoute[]; versions: VersionRecord[] } {
    const key = `${name}\0${alias}`;
    let entry = this.routeCache.get(key);
    if (!entry) {
      const a = this.deps.repo.getAlias(name, alias);
      if (!a) {
        this.requireFunction(name);
        throw VersionNotFound(`function "${name}" has no alias "${alias}"`, { data: { function: name, alias } });
      }
      const versions = a.routes.map((r) => this.deps.repo.getVersion(r.version)!);
      entry = { routes: a.routes, versions };
      this.routeCache.set(key, entry);
    }
    return entry;
  }

  /** Picks the version for one request by the alias's weights (and a traffic shift in progress). */
  pickVersion(name: string, alias = 'latest'): VersionRecord {
    const shift = this.shifts.size ? this.shifts.get(`${name}\0${alias}`) : undefined;
    if (shift && Math.random() * shift.ms >= performance.now() - shift.start) return pick(shift.from.routes, shift.from.versions);
    const { routes, versions } = this.routes(name, alias);
    return pick(routes, versions);
  }

  /**
   * The routes `alias` has now, if a deploy of `newVersion` should shift its traffic gradually:
   * the driver starts instances cold (a fresh process) and some version of those routes took
   * requests just now. Undefined otherwise (the switch is then immediate).
   */
  private slowStartFrom(name: string, alias: string, newVersion: string) {
    if (this.deps.driver.capabilities.snapshot !== 'artifact') return undefined;
    let from: { routes: AliasRoute[]; versions: VersionRecord[] };
    try {
      from = this.routes(name, alias);
    } catch {
      return undefined;
    }
    if (from.versions.some((v) => v.id === newVersion)) return undefined;
    return from.versions.some((v) => this.pools.get(v.id)?.busy) ? from : undefined;
  }

  /** Shifts `alias` from `from` to its stored routes over SLOW_START_MS; resolves when done. */
  private shift(name: string, alias: string, from: SlowStart['from']): Promise<void> {
    const key = `${name}\0${alias}`;
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    const shift: SlowStart = { from, start: performance.now(), ms: SLOW_START_MS, end };
    const timer = setTimeout(end, SLOW_START_MS);
    this.shifts.set(key, shift);
    return done.finally(() => {
      clearTimeout(timer);
      if (this.shifts.get(key) === shift) this.shifts.delete(key);
    });
  }

  /**
   * Warms the pool of a version an alias is about to route to, then raises it to normal priority.
   * A pool created here starts its instances at background priority (the version does not serve
   * yet); one that exists already may be serving and is left as it is.
   */
  private async prewarm(version: VersionRecord): Promise<void> {
    const pool = this.pool(version, { background: this.serving() });
    await pool.warm();
    pool.promote();
  }

  /** Whether any version of any function is serving traffic right now (see Pool.busy). */
  private serving(): boolean {
    for (const p of this.pools.values()) if (p.busy) return true;
    return false;
  }

  /** The pool of a version, created on first use (`background` applies only to a new pool). */
  pool(version: VersionRecord, options: { background?: boolean } = {}): Pool {
    let pool = this.pools.get(version.id);
    if (!pool) {
      const secrets = this.deps.secrets;
      pool = new Pool(
        version,
        { ...this.deps, runtimeEnv: (fn) => secrets?.resolve(fn) ?? {} },
        this.deps.logger.child({ fn: version.fn, version: version.id }),
        { ...options, hostCpu: this.hostCpu },
      );
      const metrics = this.deps.metrics;
      const driver = this.deps.driver.name;
      if (metrics) {
        pool.onStarted = (inst) => {
          for (const t of inst.timings) {
            if (t.step === 'total') metrics.restoreDuration.observe({ driver }, t.ms / 1000);
            // Drivers report their own steps (daemon.ts); only this layer's step is added here.
            else if (t.step === 'agent-restore') metrics.restoreStep.observe({ driver, flow: 'restore', step: t.step }, t.ms / 1000);
          }
        };
      }
      this.pools.set(version.id, pool);
    }
    return pool;
  }

  /** Pool figures of every function, for /metrics. */
  allPoolStats(): Array<PoolStats & { fn: string }> {
    return [...this.pools.values()].map((p) => ({ ...p.stats(), fn: p.version.fn }));
  }

  poolStats(name: string): PoolStats[] {
    return [...this.pools.values()].filter((p) => p.version.fn === name).map((p) => p.stats());
  }

  instances(name?: string): Instance[] {
    return [...this.pools.values()].filter((p) => !name || p.version.fn === name).flatMap((p) => p.list());
  }

  list() {
    return this.deps.repo.listFunctions().map((f) => this.describe(f.name));
  }

  /** The function's record, or `function_not_found` (a cheap existence check for routes). */
  requireFunction(name: string) {
    const fn = this.deps.repo.getFunction(name);
    if (!fn) throw FunctionNotFound(`no function named "${name}"`, { data: { function: name } });
    return fn;
  }

  describe(name: string) {
    const fn = this.requireFunction(name);
    const latest = this.deps.repo.getAlias(name, 'latest');
    const version = latest ? this.deps.repo.getVersion(latest.routes[0].version) : undefined;
    return {
      name,
      createdAt: new Date(fn.createdAt).toISOString(),
      updatedAt: new Date(fn.updatedAt).toISOString(),
      latest: version ? { id: version.id, seq: version.seq, digest: version.digest } : null,
      settings: version?.settings,
      envKeys: Object.keys(version?.env ?? {}),
      aliases: this.deps.repo.listAliases(name).map((a) => ({ name: a.name, routes: a.routes })),
      pools: this.poolStats(name),
    };
  }

  async remove(name: string): Promise<{ removed: string; versions: number }> {
    assertFunctionName(name);
    this.requireFunction(name);
    this.invalidate(name); // ends a traffic shift, so a deploy in progress answers now
    await this.deploying.get(name)?.catch(() => {});
    const snapshots = this.deps.repo.deleteFunction(name);
    this.invalidate(name);
    await Promise.all([...this.pools.values()].filter((p) => p.version.fn === name).map((p) => this.closePool(p, 0)));
    for (const id of snapshots) {
      try {
        this.deps.registry.remove(id, { force: true });
      } catch (err) {
        this.deps.logger.warn('could not remove golden snapshot', { snapshot: id, err });
      }
    }
    this.deps.logs.deleteFunction(name);
    this.recent.forget(name);
    this.deps.secrets?.removeFunction(name);
    this.onRemove?.(name);
    for (const listener of this.removedListeners) listener(name);
    return { removed: name, versions: snapshots.length };
  }

  /** Calls `listener` with the name of each function removed from now on; returns the unsubscribe. */
  removed(listener: (fn: string) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  /** Forgets cached routes of `name` and ends its traffic shifts (an alias changed). */
  private invalidate(name: string) {
    for (const key of this.routeCache.keys()) if (key.startsWith(`${name}\0`)) this.routeCache.delete(key);
    for (const [key, shift] of this.shifts) if (key.startsWith(`${name}\0`)) shift.end();
  }

  /** Drains the pools of `name` whose version no alias routes to any more. */
  private async drainUnreferenced(name: string) {
    const live = new Set(this.deps.repo.listAliases(name).flatMap((a) => a.routes.map((r) => r.version)));
    // A version still taking a share of a traffic shift keeps serving until the shift ends.
    for (const [key, shift] of this.shifts) if (key.startsWith(`${name}\0`)) for (const v of shift.from.versions) live.add(v.id);
    const stale = [...this.pools.values()].filter((p) => p.version.fn === name && !live.has(p.version.id));
    // Old versions finish their in-flight requests in the background; new ones already serve.
    for (const p of stale) void this.closePool(p, this.deps.config.shutdownGraceMs);
  }

  private async closePool(pool: Pool, graceMs: number) {
    this.pools.delete(pool.version.id);
    await pool.drain(graceMs);
  }

  /** Hands changed secrets to the running instances of `name` (new instances get them at restore). */
  async refreshEnv(name: string): Promise<void> {
    const secrets = this.deps.secrets?.resolve(name) ?? {};
    await Promise.all(
      this.instances(name).map((i) =>
        i.client.setEnv({ ...i.version.env, ...secrets }).catch((err) => this.deps.logger.warn('could not refresh instance env', { vm: i.id, err })),
      ),
    );
  }

  /** Warms every function's latest version (daemon start-up). */
  async warmAll(): Promise<void> {
    for (const f of this.deps.repo.listFunctions()) {
      try {
        for (const v of this.routes(f.name).versions)
          void this.pool(v)
            .warm()
            .catch((err) => this.deps.logger.warn('warm-up failed', { fn: f.name, err }));
      } catch (err) {
        this.deps.logger.warn('cannot route function', { fn: f.name, err });
      }
    }
  }

  async close(graceMs: number): Promise<void> {
    for (const shift of this.shifts.values()) shift.end();
    await Promise.all([...this.pools.values()].map((p) => this.closePool(p, graceMs)));
  }
}

/** The weighted choice of one version among an alias's routes. */
function pick(routes: AliasRoute[], versions: VersionRecord[]): VersionRecord {
  if (routes.length === 1) return versions[0];
  let r = Math.random() * 100;
  for (let i = 0; i < routes.length; i++) {
    r -= routes[i].weight;
    if (r < 0) return versions[i];
  }
  return versions[versions.length - 1];
}

/** A version's stated settings with a deploy's stated over them; null drops a setting (back to the default). */
function mergeStated(kept: Partial<FunctionSettings>, stated: StatedSettings): Partial<FunctionSettings> {
  const merged: Record<string, unknown> = { ...kept };
  for (const [k, v] of Object.entries(stated)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return merged as Partial<FunctionSettings>;
}

/** The settings whose values differ between two versions, by name. */
function diffSettings(before: FunctionSettings, after: FunctionSettings): DeployChanges['settings'] {
  return (Object.keys(after) as Array<keyof FunctionSettings>)
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .sort()
    .map((name) => ({ name, from: before[name] ?? null, to: after[name] }));
}

function sortKeys(o: Record<string, string>) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
