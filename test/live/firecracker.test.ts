/**
 * The Machine contract against the real Firecracker binary on KVM: cold boot, the agent over
 * vsock, pause/resume, snapshot, restore, 3 concurrent forks, idempotent stop, and nothing left
 * behind even when a flow fails. Skips (printing the exact fix) without /dev/kvm, the binary or
 * the assets.
 */
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { reportSkip } from '../support/needs.ts';
import { machineContract } from '../firecracker/contract.ts';
import { liveAssets, liveSkipReason } from './live-assets.ts';

const skip = liveSkipReason();
reportSkip('test/live/firecracker.test.ts', skip);

machineContract(
  'firecracker (live, KVM)',
  () => {
    const a = liveAssets();
    return new FirecrackerDriver({ binary: a.binary, kernel: a.kernel, rootfs: a.rootfs, bootAgentTimeoutMs: 60_000 });
  },
  { skip, forks: [3], memoryMiB: 256 },
);
