/**
 * Base images for microVMs: a minimal ext4 root filesystem with a pinned Node, the agent bundle,
 * the AF_VSOCK addon and a static init as PID 1, built without root. The registry imports
 * the result under its digest as a base image. Layout and boot sequence: docs/GUEST.md.
 */
export { buildBaseImage, DEFAULT_EPOCH, type BaseImage, type BuildBaseImageOptions } from './build.ts';
export { IMAGE_ADDON, IMAGE_AGENT, IMAGE_INIT, IMAGE_NODE } from './tree.ts';
export { findTool, requireTool } from './tools.ts';
export * from './errors.ts';
