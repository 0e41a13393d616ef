/**
 * Request dispatch of the fake Firecracker, following `parsed_request.rs`: method and path select
 * an endpoint; GET must not carry a body and PUT/PATCH must; path resource ids are checked
 * (non-empty, `[A-Za-z0-9_]`) and must equal the body id; JSON is deserialised with the endpoint's
 * schema; and the phase rules of `rpc_interface.rs` (pre-boot only / post-boot only) are applied
 * before any handler runs. Every outcome is a 204, a 200 with JSON, or a 400 `fault_message`.
 */
import type { RawRequest, RawResponse } from './http.ts';
import { BodyError, schemas, validate, type BodySchema } from './schema.ts';
import type { FakeVmm } from './vmm.ts';

export class Fault extends Error {
  constructor(
    message: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}

const NOT_BEFORE = 'The requested operation is not supported before starting the microVM.';
const NOT_AFTER = 'The requested operation is not supported after starting the microVM.';

type Phase = 'pre' | 'post' | 'any';
type Handler = (vmm: FakeVmm, body: Record<string, any>, id: string | undefined) => Promise<unknown> | unknown;

interface Route {
  method: string;
  /** Path, with `{id}` for a resource id segment. */
  path: string;
  phase: Phase;
  schema?: BodySchema;
  /** The body field that must equal the path id. */
  idField?: string;
  handler: Handler;
  /** A GET that answers 200 with the handler's value. */
  data?: boolean;
}

const routes: Route[] = [
  { method: 'GET', path: '/', phase: 'any', data: true, handler: (v) => v.instanceInfo() },
  { method: 'GET', path: '/version', phase: 'any', data: true, handler: (v) => ({ firecracker_version: v.version }) },
  { method: 'GET', path: '/machine-config', phase: 'any', data: true, handler: (v) => v.machine },
  { method: 'GET', path: '/vm/config', phase: 'any', data: true, handler: (v) => v.fullConfig() },
  { method: 'GET', path: '/balloon', phase: 'any', data: true, handler: (v) => v.getBalloon() },
  { method: 'PUT', path: '/boot-source', phase: 'pre', schema: schemas.bootSource, handler: (v, b) => v.putBootSource(b) },
  { method: 'PUT', path: '/drives/{id}', phase: 'pre', schema: schemas.drive, idField: 'drive_id', handler: (v, b) => v.putDrive(b) },
  { method: 'PATCH', path: '/drives/{id}', phase: 'post', schema: schemas.drivePatch, idField: 'drive_id', handler: (v, b) => v.patchDrive(b) },
  { method: 'PUT', path: '/machine-config', phase: 'pre', schema: schemas.machineConfig, handler: (v, b) => v.putMachineConfig(b) },
  { method: 'PATCH', path: '/machine-config', phase: 'pre', schema: schemas.machineConfigPatch, handler: (v, b) => v.patchMachineConfig(b) },
  {
    method: 'PUT',
    path: '/network-interfaces/{id}',
    phase: 'pre',
    schema: schemas.networkInterface,
    idField: 'iface_id',
    handler: (v, b) => v.putNetworkInterface(b),
  },
  {
    method: 'PATCH',
    path: '/network-interfaces/{id}',
    phase: 'post',
    schema: schemas.networkInterfacePatch,
    idField: 'iface_id',
    handler: (v, b) => v.patchNetworkInterface(b),
  },
  { method: 'PUT', path: '/vsock', phase: 'pre', schema: schemas.vsock, handler: (v, b) => v.putVsock(b) },
  { method: 'PUT', path: '/logger', phase: 'pre', schema: schemas.logger, handler: (v, b) => v.putLogger(b) },
  { method: 'PUT', path: '/metrics', phase: 'pre', schema: schemas.metrics, handler: (v, b) => v.putMetrics(b) },
  { method: 'PUT', path: '/entropy', phase: 'pre', schema: schemas.entropy, handler: (v, b) => v.putEntropy(b) },
  { method: 'PUT', path: '/balloon', phase: 'pre', schema: schemas.balloon, handler: (v, b) => v.putBalloon(b) },
  { method: 'PATCH', path: '/balloon', phase: 'post', schema: schemas.balloonPatch, handler: (v, b) => v.patchBalloon(b) },
  { method: 'PUT', path: '/actions', phase: 'any', schema: schemas.action, handler: (v, b) => v.action(b.action_type) },
  { method: 'PATCH', path: '/vm', phase: 'post', schema: schemas.vm, handler: (v, b) => v.setVmState(b.state) },
  { method: 'PUT', path: '/snapshot/create', phase: 'post', schema: schemas.snapshotCreate, handler: (v, b) => v.createSnapshot(b) },
  { method: 'PUT', path: '/snapshot/load', phase: 'pre', schema: schemas.snapshotLoad, handler: (v, b) => v.loadSnapshot(b) },
];

/** Actions have per-action phases (rpc_interface.rs). */
const ACTION_PHASE: Record<string, Phase> = { InstanceStart: 'pre', SendCtrlAltDel: 'post', FlushMetrics: 'post' };

function match(route: Route, method: string, path: string): { ok: boolean; id?: string } {
  if (route.method !== method) return { ok: false };
  if (!route.path.includes('{id}')) return { ok: route.path === path };
  const prefix = route.path.slice(0, route.path.indexOf('{id}'));
  if (!path.startsWith(prefix)) return { ok: false };
  const id = path.slice(prefix.length);
  if (id.includes('/')) return { ok: false };
  return { ok: true, id };
}

function fault(message: string): RawResponse {
  return { status: 400, body: { fault_message: message } };
}

/** Turns one parsed HTTP request into Firecracker's answer. */
export async function dispatch(vmm: FakeVmm, req: RawRequest): Promise<RawResponse> {
  const path = req.path;
  if (req.method === 'GET' && req.body) return fault('GET request cannot have a body.');
  if ((req.method === 'PUT' || req.method === 'PATCH') && !req.body) return fault(`Empty ${req.method} request.`);

  let route: Route | undefined;
  let id: string | undefined;
  for (const r of routes) {
    const m = match(r, req.method, path);
    if (m.ok) {
      route = r;
      id = m.id;
      break;
    }
  }
  if (!route) return fault(`Invalid request method and/or path: ${req.method} ${path}.`);
  if (id !== undefined) {
    if (id === '') return fault('The ID cannot be empty.');
    if (!/^[A-Za-z0-9_]+$/.test(id)) return fault('API Resource IDs can only contain alphanumeric characters and underscores.');
  }

  let body: Record<string, any> = {};
  if (req.body && route.schema) {
    let json: unknown;
    try {
      json = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      return fault(`An error occurred when deserializing the json body of a request: ${(err as Error).message}`);
    }
    try {
      body = validate(route.schema, json);
    } catch (err) {
      if (err instanceof BodyError) return fault(err.message);
      throw err;
    }
    if (route.idField && body[route.idField] !== id) return fault('The id from the path does not match the id from the body!');
  }

  const phase = route.path === '/actions' ? (ACTION_PHASE[body.action_type] ?? 'any') : route.phase;
  if (phase === 'pre' && vmm.started) return fault(NOT_AFTER);
  if (phase === 'post' && !vmm.started) return fault(NOT_BEFORE);

  try {
    await vmm.delay(route.path);
    const value = await route.handler(vmm, body, id);
    const deprecated = vmm.takeDeprecation();
    if (route.data) return { status: 200, body: value, deprecated };
    return { status: 204, deprecated };
  } catch (err) {
    if (err instanceof Fault) {
      const res = fault(err.message);
      // A failed snapshot load is fatal: Firecracker sends the 400, then exits.
      if (err.fatal) res.after = () => vmm.fatal(err.message);
      return res;
    }
    throw err;
  }
}
