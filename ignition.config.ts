/**
 * Ignition's configuration. Every key is optional; environment variables override it
 * (IGNITION_LISTEN, IGNITION_DATA_DIR, IGNITION_DRIVER, IGNITION_SANDBOX, IGNITION_LOG_LEVEL…).
 * See the README's Configuration section for each key.
 */
import { defineConfig } from './platform/config/index.ts';

export default defineConfig({
  listen: '127.0.0.1:7777',
  driver: 'auto',
  functions: {
    minWarm: 1,
    maxInstances: 10,
    timeoutMs: 30_000,
    isolation: 'reuse',
  },
});
