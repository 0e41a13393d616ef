/**
 * The network capability's public surface, for the composition root (platform/daemon.ts):
 * `NetworkService.open(...)`, `networkRoutes(service)` for `/v1/network`, `networkMigrations` for
 * the store, and the config and lease types. (Its benchmark is scripts/bench/measure/network.ts.)
 */
export { NetworkService } from './service.ts';
export type { AcquireOptions, NetworkListing, NetworkServiceOptions, ReconcileReport, SetupLog } from './service.ts';
export type { NetworkLease, SlotView } from './views.ts';
export { networkRoutes } from './routes.ts';
export { networkMigrations, applyNetworkMigrations } from './schema.ts';
export { resolveNetworkConfig, slotLayout, bridgeLayout } from './slot.ts';
export type { NetworkConfig, NetworkConfigInput, SlotLayout, SlotPolicy, SlotPolicyInput } from './slot.ts';
export * from './errors.ts';
