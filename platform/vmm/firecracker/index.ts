/**
 * The Firecracker driver's public surface: the driver for the composition root, the typed API
 * client for low-level use (and the live tests), and the error catalogue.
 */
export { FirecrackerDriver, FirecrackerMachine, BOOT_STEPS, RESTORE_STEPS } from './driver.ts';
export type { CloneSpec, ForkOptions, ForkResult, FirecrackerDriverOptions, NetworkAttachment, NetworkProvider } from './driver.ts';
export { DEFAULT_BOOT_ARGS } from './options.ts';
export type { JailerOptions } from './jailer.ts';
export { FirecrackerClient, checkResourceId } from './api/client.ts';
export { ApiTransport, parseErrorBody, DEFAULT_MAX_PAYLOAD } from './api/http.ts';
export type * from './api/types.ts';
export * from './errors.ts';
