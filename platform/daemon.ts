/**
 * The composition root: loads the configuration, opens the store, builds the registry, the
 * machine driver, the function service and the HTTP app, and serves it. Nothing else constructs
 * adapters; everything below takes its collaborators as arguments.
 *
 * Start-up reaps machines a crashed daemon left behind (the machines table). Shutdown on
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish within
 * `shutdownGraceMs`, stop every instance, flush logs, close the database.
 */
import { createServer } from 'node:http';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, entryPoints } from './api/app.ts';
import { FrontDoor } from './api/front-door.ts';
import { answerClientErrors, deferContinue } from './api/invoke-listener.ts';
import type { IgnitionConfig } from './config/schema.ts';
import { createLogger, type Logger } from './log.ts';
import { openDatabase, type Store } from './store/db.ts';
import { platformMigrations } from './store/migrations.ts';
import { Registry } from './registry/registry.ts';
import { FunctionRepository } from './functions/repository.ts';
import { FunctionService } from './functions/service.ts';
import { LogSink } from './functions/logs.ts';
import { MachineRecords } from './vmm/records.ts';
import { selectDriver } from './vmm/select.ts';
import type { MachineDriver } from './vmm/port.ts';
import { VERSION } from './version.ts';
import { VmService } from './vms/service.ts';
import { platformMetrics } from './metrics.ts';
import { registryRoutes } from './registry/routes.ts';
import { guardGoldenSnapshots, imageRoutes } from './api/routes/images.ts';
import { networkApi, networkProvider, openNetwork, type NetworkState } from './network/attach.ts';
import { authRoutes, ensureAdminToken, TokenStore } from './auth/index.ts';
import { secretRoutes, SecretStore } from './secrets/index.ts';
import { AsyncService, asyncRoutes } from './async/index.ts';
import { invokeBuffered } from './functions/buffered.ts';
import { InvocationOutcomes } from './functions/outcomes.ts';
import { openapiRoutes } from './api/openapi/route.ts';
import { vmRoutes } from './vms/routes.ts';

export interface Daemon {
  url: string;
  config: IgnitionConfig;
  driver: MachineDriver;
  functions: FunctionService;
  registry: Registry;
  store: Store;
  logger: Logger;
  app: ReturnType<typeof createApp>;
  /** Graceful shutdown; idempotent. */
  close(): Promise<void>;
}

/** dist/agent.mjs, wherever this module was bundled or run from. */
export function locateAgent(): string {
  if (process.env.IGNITION_AGENT_PATH) return path.resolve(process.env.IGNITION_AGENT_PATH);
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, 'agent.mjs'), path.join(here, '..', 'agent.mjs'), path.join(here, '..', 'dist', 'agent.mjs')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find agent.mjs near ${here}: run "npm run build"`);
}

export async function startDaemon(config: IgnitionConfig, options: { logger?: Logger; listen?: boolean } = {}): Promise<Daemon> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  privateDataDir(config.dataDir, logger);
  const store = openDatabase(path.join(config.dataDir, 'ignition.db'), platformMigrations);
  const workspacesDir = path.join(config.dataDir, 'machines');
  // Like the data directory: entered by sandboxes of other uids, listed by nobody else.
  mkdirSync(workspacesDir, { recursive: true });
  chmodSync(workspacesDir, dataDirMode());
  const records = new MachineRecords(store);
  records.reap(logger, workspacesDir);

  const registryDir = path.join(config.dataDir, 'registry');
  mkdirSync(registryDir, { recursive: true, mode: 0o700 });
  chmodSync(registryDir, 0o700);
  const registry = new Registry({ root: registryDir, store });
  let network: NetworkState = { service: null, reason: 'not opened yet' };
  const metrics = platformMetrics();
  const { driver, reason } = selectDriver(config, {
    agentPath: locateAgent(),
    workspacesDir,
    logger,
    network: networkProvider(() => network.service),
    networkOn: () => network.service !== null,
    networkRefusal: () => ((config.network.enabled ?? 'auto') === true && network.service === null ? network.reason : null),
    // Boots (golden builds, `vm run`), restores (instances, `vm run --snapshot`, fork clones) and
    // snapshots alike. Called only once machines start, after `driver` below is set.
    onStep: (e) => metrics.restoreStep.observe({ driver: driver.name, flow: e.flow, step: e.step }, e.ms / 1000),
  });
  logger.info('driver selected', { driver: driver.name, reason });
  network = await openNetwork({ driver: driver.name, settings: config.network, db: store.sqlite, logger, liveVmIds: records.list().map((r) => r.id) });

  const tokens = new TokenStore(store);
  const admin = ensureAdminToken(config.dataDir, tokens);
  logger.info('admin token', { file: admin.path, id: admin.id, created: admin.created });
  // Opened at start-up so a key file with loose permissions stops the daemon right away.
  const secrets = SecretStore.open(store, config.dataDir);

  const logs = new LogSink(store, config.logRetention);
  const repo = new FunctionRepository(store);
  const functions = new FunctionService({ config, driver, registry, repo, records, logs, logger, workspacesDir, metrics, secrets });
  metrics.registry.onCollect(() => {
    metrics.instances.reset();
    metrics.queueDepth.reset();
    const byFn = new Map<string, { idle: number; busy: number; starting: number; queued: number }>();
    for (const p of functions.allPoolStats()) {
      const agg = byFn.get(p.fn) ?? { idle: 0, busy: 0, starting: 0, queued: 0 };
      agg.idle += p.idle;
      agg.busy += p.instances - p.idle;
      agg.starting += p.starting;
      agg.queued += p.queued;
      byFn.set(p.fn, agg);
    }
    for (const [fn, a] of byFn) {
      for (const state of ['idle', 'busy', 'starting'] as const) metrics.instances.set({ function: fn, state }, a[state]);
      metrics.queueDepth.set({ function: fn }, a.queued);
    }
    for (const [kind, n] of Object.entries(driver.stats().spares)) metrics.vmmSpares.set({ kind }, n);
  });
  const vms = new VmService({ driver, registry, records, logs, logger, workspacesDir });
  const outcomes = new InvocationOutcomes(metrics, functions.recent);
  const asyncService = AsyncService.open({
    store,
    logger,
    exists: (fn) => repo.getFunction(fn) !== undefined,
    // Counted as /fn requests are: the same series, and the console's recent invocations.
    invoke: (job) => invokeBuffered(functions, job, outcomes),
  });
  functions.onRemove = (fn) => asyncService.removeFunction(fn);
  // Invoke tokens name their function: they end with it (tokens.ts, revokeFunction).
  functions.removed((fn) => {
    const n = tokens.revokeFunction(fn);
    if (n > 0) logger.info('revoked the invoke tokens of a removed function', { fn, tokens: n });
  });

  let draining = false;
  const started = Date.now();
  const app = createApp({
    functions,
    logs,
    logger,
    draining: () => draining,
    metrics,
    mounts: {
      '/v1/vms': vmRoutes(vms),
      '/v1/snapshots': registryRoutes(registry),
      '/v1/images': imageRoutes(registry),
      '/v1/network': networkApi(network),
      '/v1/openapi.json': openapiRoutes(),
      '/v1': asyncRoutes(asyncService),
      '/v1/tokens': authRoutes(tokens, { exists: (fn) => repo.getFunction(fn) !== undefined }),
      '/v1/secrets': secretRoutes(secrets, { exists: (fn) => repo.getFunction(fn) !== undefined, onChange: (fn) => void functions.refreshEnv(fn) }),
    },
    tokens,
    console: { vms, registry, async: asyncService, secrets },
    guards: { '/v1/snapshots/*': guardGoldenSnapshots(registry, repo) },
    info: () => ({
      name: 'ignition',
      version: VERSION,
      node: process.version,
      uptimeMs: Date.now() - started,
      driver: { name: driver.name, reason, capabilities: driver.capabilities, ...(driver.isolation ? { isolation: driver.isolation } : {}) },
      network: { enabled: network.service !== null, reason: network.reason },
      dataDir: config.dataDir,
    }),
  });

  let door: FrontDoor | undefined;
  let url = '';
  if (options.listen !== false) {
    const [host, portText] = splitHostPort(config.listen);
    const { serve, listener } = entryPoints(app, { functions, metrics, tokens, logger });
    const http = createServer(listener);
    deferContinue(http, listener);
    answerClientErrors(http, logger);
    door = new FrontDoor(serve, http, logger);
    await door.listen(Number(portText), host);
    const addr = door.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : Number(portText);
    url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info('listening', { url, dataDir: config.dataDir });
  }
  void functions.warmAll();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      logger.info('shutting down', { graceMs: config.shutdownGraceMs });
      const serverClosed = door ? new Promise<void>((r) => door!.close(r)) : Promise.resolve();
      // Idle keep-alive connections would hold close() open; in-flight requests keep theirs.
      door?.closeIdleConnections();
      // Async attempts in flight need the invoker: stop them before the pools.
      await asyncService.close(config.shutdownGraceMs);
      await functions.close(config.shutdownGraceMs);
      await vms.close();
      const forced = setTimeout(() => door?.closeAllConnections(), config.shutdownGraceMs);
      await serverClosed;
      clearTimeout(forced);
      await driver.close();
      await network.service?.close();
      logs.flush();
      store.close();
      logger.info('stopped');
    })());

  return { url, config, driver, functions, registry, store, logger, app, close };
}

/**
 * The data directory is the owner's only, created so or tightened at start: it holds the
 * database, `admin.token`, `secrets.key` and every function's code, and a directory others can
 * list and enter leaves each file only as safe as its own mode. A root daemon's directory lets
 * others pass through without listing it (0711): its sandboxes run as uids of their own
 * (vmm/process/uids.ts), which must reach their workspaces under it.
 *
 * The files with credentials are 0600 as well (store/db.ts, auth/bootstrap.ts, secrets/key.ts),
 * in case the directory is opened up or a file is copied out alone. The registry is 0700 in
 * either case: nothing of another uid walks it (the process driver copies a bundle out of it, and
 * Firecracker's jailer hard-links a blob into its jail, where the directory's mode does not
 * apply), so function code there stays the daemon's to read even when the data directory lets
 * others pass. Machine workspaces (machines/, the same mode as the data directory) have random names.
 */
export function dataDirMode(uid = process.getuid?.()): number {
  return uid === 0 ? 0o711 : 0o700;
}

function privateDataDir(dir: string, logger: Logger): void {
  const mode = dataDirMode();
  mkdirSync(dir, { recursive: true, mode });
  const was = statSync(dir).mode & 0o777;
  if (was === mode) return;
  chmodSync(dir, mode);
  logger.info('data directory mode set', { dir, was: `0${was.toString(8)}`, now: `0${mode.toString(8)}` });
}

function splitHostPort(listen: string): [string, string] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), listen.slice(i + 1)];
}
