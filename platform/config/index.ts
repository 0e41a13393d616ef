/**
 * Public face of the configuration for `ignition.config.ts`:
 *
 *   import { defineConfig } from './platform/config/index.ts';
 *   export default defineConfig({ listen: '127.0.0.1:7777', functions: { timeoutMs: 10_000 } });
 */
import type { UserConfig } from './schema.ts';

export type { IgnitionConfig, FunctionSettings, UserConfig } from './schema.ts';

/** Types the user's configuration; validation happens when the daemon loads it. */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}
