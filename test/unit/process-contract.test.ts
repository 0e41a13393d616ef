/**
 * The Machine port's contract suite (test/firecracker/contract.ts), run against the process
 * driver for everything its capabilities claim; what it does not support (memory snapshots, fork)
 * is skipped by the suite with the reason printed.
 */
import path from 'node:path';
import { machineContract } from '../firecracker/contract.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { ROOT } from '../support/daemon.ts';

machineContract('process', () => new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto' }), { forks: [] });
