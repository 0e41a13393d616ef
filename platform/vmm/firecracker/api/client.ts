/**
 * A thin, typed client of Firecracker's HTTP API: one method per endpoint, bodies typed from the
 * API contract, no policy (no retries, no ordering rules: those belong to the boot and restore step
 * lists). The path resource id is always taken from the body (Firecracker requires them equal) and
 * checked against Firecracker's charset (`[A-Za-z0-9_]`, no hyphens) before anything is sent, so a
 * bad id fails fast with a local error instead of a round trip.
 */
import { FcInvalidRequest } from '../errors.ts';
import { ApiTransport, type ApiTransportOptions, type CallOptions } from './http.ts';
import type {
  ActionType,
  Balloon,
  BalloonUpdate,
  BootSource,
  Drive,
  EntropyDevice,
  FirecrackerVersion,
  FullVmConfiguration,
  InstanceInfo,
  Logger,
  MachineConfiguration,
  Metrics,
  NetworkInterface,
  PartialDrive,
  PartialMachineConfiguration,
  PartialNetworkInterface,
  SnapshotCreateParams,
  SnapshotLoadParams,
  Vsock,
} from './types.ts';

const RESOURCE_ID = /^[A-Za-z0-9_]+$/;

/** Throws unless `id` is a valid Firecracker path resource id. */
export function checkResourceId(kind: string, id: string): void {
  if (!RESOURCE_ID.test(id)) {
    throw FcInvalidRequest(`${kind} "${id}" is not a valid Firecracker resource id: use only letters, digits and underscores`, {
      data: { kind, id },
    });
  }
}

/** Typed access to one Firecracker process's API socket. */
export class FirecrackerClient {
  readonly transport: ApiTransport;

  constructor(options: ApiTransportOptions | ApiTransport) {
    this.transport = options instanceof ApiTransport ? options : new ApiTransport(options);
  }

  get socketPath(): string {
    return this.transport.socketPath;
  }

  async #put(path: string, body: unknown, options?: CallOptions): Promise<void> {
    await this.transport.call('PUT', path, body, options);
  }

  async #patch(path: string, body: unknown, options?: CallOptions): Promise<void> {
    await this.transport.call('PATCH', path, body, options);
  }

  async #get<T>(path: string, options?: CallOptions): Promise<T> {
    const res = await this.transport.call<T>('GET', path, undefined, options);
    return res.body as T;
  }

  /** `GET /`: id, state (`Not started` | `Running` | `Paused`), versions. */
  async describeInstance(options?: CallOptions): Promise<InstanceInfo> {
    return this.#get<InstanceInfo>('/', options);
  }

  /** `GET /version`. */
  async version(options?: CallOptions): Promise<FirecrackerVersion> {
    return this.#get<FirecrackerVersion>('/version', options);
  }

  /** `GET /vm/config`: the full configuration as Firecracker holds it. */
  async vmConfig(options?: CallOptions): Promise<FullVmConfiguration> {
    return this.#get<FullVmConfiguration>('/vm/config', options);
  }

  /** `GET /machine-config`. */
  async getMachineConfig(options?: CallOptions): Promise<MachineConfiguration> {
    return this.#get<MachineConfiguration>('/machine-config', options);
  }

  /** `PUT /boot-source` (pre-boot; the kernel is opened now, a bad path fails here). */
  async putBootSource(body: BootSource, options?: CallOptions): Promise<void> {
    return this.#put('/boot-source', body, options);
  }

  /** `PUT /drives/{drive_id}` (pre-boot; post-boot it is PCI hotplug). */
  async putDrive(body: Drive, options?: CallOptions): Promise<void> {
    checkResourceId('drive_id', body.drive_id);
    return this.#put(`/drives/${body.drive_id}`, body, options);
  }

  /** `PATCH /drives/{drive_id}` (post-boot: swap the backing file or update the limiter). */
  async patchDrive(body: PartialDrive, options?: CallOptions): Promise<void> {
    checkResourceId('drive_id', body.drive_id);
    return this.#patch(`/drives/${body.drive_id}`, body, options);
  }

  /** `PUT /machine-config` (pre-boot; omitted optional fields are reset to defaults). */
  async putMachineConfig(body: MachineConfiguration, options?: CallOptions): Promise<void> {
    return this.#put('/machine-config', body, options);
  }

  /** `PATCH /machine-config` (pre-boot, partial; an empty patch is rejected). */
  async patchMachineConfig(body: PartialMachineConfiguration, options?: CallOptions): Promise<void> {
    if (Object.keys(body).length === 0) throw FcInvalidRequest('PATCH /machine-config needs at least one field');
    return this.#patch('/machine-config', body, options);
  }

  /** `PUT /network-interfaces/{iface_id}` (pre-boot). */
  async putNetworkInterface(body: NetworkInterface, options?: CallOptions): Promise<void> {
    checkResourceId('iface_id', body.iface_id);
    return this.#put(`/network-interfaces/${body.iface_id}`, body, options);
  }

  /** `PATCH /network-interfaces/{iface_id}` (post-boot: rate limiters). */
  async patchNetworkInterface(body: PartialNetworkInterface, options?: CallOptions): Promise<void> {
    checkResourceId('iface_id', body.iface_id);
    return this.#patch(`/network-interfaces/${body.iface_id}`, body, options);
  }

  /** `PUT /vsock` (pre-boot; Firecracker binds `uds_path` now). */
  async putVsock(body: Vsock, options?: CallOptions): Promise<void> {
    return this.#put('/vsock', body, options);
  }

  /** `PUT /logger` (once; allowed before a snapshot load). */
  async putLogger(body: Logger, options?: CallOptions): Promise<void> {
    return this.#put('/logger', body, options);
  }

  /** `PUT /metrics` (once; allowed before a snapshot load). */
  async putMetrics(body: Metrics, options?: CallOptions): Promise<void> {
    return this.#put('/metrics', body, options);
  }

  /** `PUT /entropy` (pre-boot virtio-rng). */
  async putEntropy(body: EntropyDevice = {}, options?: CallOptions): Promise<void> {
    return this.#put('/entropy', body, options);
  }

  /** `PUT /balloon` (pre-boot). */
  async putBalloon(body: Balloon, options?: CallOptions): Promise<void> {
    return this.#put('/balloon', body, options);
  }

  /** `PATCH /balloon` (post-boot; only the target size). */
  async patchBalloon(body: BalloonUpdate, options?: CallOptions): Promise<void> {
    return this.#patch('/balloon', body, options);
  }

  /** `GET /balloon`. */
  async getBalloon(options?: CallOptions): Promise<Balloon> {
    return this.#get<Balloon>('/balloon', options);
  }

  /** `PUT /actions`. */
  async action(actionType: ActionType, options?: CallOptions): Promise<void> {
    return this.#put('/actions', { action_type: actionType }, options);
  }

  /** Starts the guest (pre-boot, once). The 204 means the VMM started, not that the guest booted. */
  async instanceStart(options?: CallOptions): Promise<void> {
    return this.action('InstanceStart', options);
  }

  /** Asks the guest to shut down (x86_64; Firecracker exits on the guest's reset). */
  async sendCtrlAltDel(options?: CallOptions): Promise<void> {
    return this.action('SendCtrlAltDel', options);
  }

  /** Writes the metrics now (post-boot). */
  async flushMetrics(options?: CallOptions): Promise<void> {
    return this.action('FlushMetrics', options);
  }

  /** `PATCH /vm {"state":"Paused"}` (post-boot, idempotent). */
  async pause(options?: CallOptions): Promise<void> {
    return this.#patch('/vm', { state: 'Paused' }, options);
  }

  /** `PATCH /vm {"state":"Resumed"}` (post-boot, idempotent). */
  async resume(options?: CallOptions): Promise<void> {
    return this.#patch('/vm', { state: 'Resumed' }, options);
  }

  /** `PUT /snapshot/create` (post-boot, VM must be paused). */
  async createSnapshot(body: SnapshotCreateParams, options?: CallOptions): Promise<void> {
    return this.#put('/snapshot/create', body, options);
  }

  /**
   * `PUT /snapshot/load` (fresh process only). On failure Firecracker answers 400 and then EXITS,
   * so callers must treat the process as gone.
   */
  async loadSnapshot(body: SnapshotLoadParams, options?: CallOptions): Promise<void> {
    const backends = Number(body.mem_backend !== undefined) + Number(body.mem_file_path !== undefined);
    if (backends !== 1) {
      throw FcInvalidRequest('snapshot load needs exactly one of mem_backend and mem_file_path', { data: { backends } });
    }
    for (const o of body.network_overrides ?? []) checkResourceId('iface_id', o.iface_id);
    return this.#put('/snapshot/load', body, options);
  }

  /** Lets an in-flight call finish, then closes the connection. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /** Drops the connection at once. */
  destroy(): Promise<void> {
    return this.transport.destroy();
  }
}
