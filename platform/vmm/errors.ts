/** Errors of the Machine port shared by every driver. */
import { defineError } from '../errors.ts';

export const MachineStartFailed = defineError('vm_start_failed', 502, 'Machine failed to start', 'restore');
export const MachineNotRunning = defineError('vm_not_running', 409, 'Machine is not running', 'vmm');
export const MachineInvalidState = defineError('vm_invalid_state', 409, 'Operation not allowed in this state', 'vmm');
export const DriverUnavailable = defineError('driver_unavailable', 503, 'Driver unavailable', 'config');
