/**
 * Error catalogue of the network capability (codes prefixed `net_`).
 *
 * Configuration faults are 400s raised at start-up; an exhausted address space is a 503 (retry
 * after something is released); a failing `ip`/`nft` script is a 500 carrying the tool, the slot
 * and the tool's own stderr in `data`, so an operator can re-run the same script by hand.
 */
import { defineError } from '../errors.ts';

export const NetInvalidConfig = defineError('net_invalid_config', 400, 'Invalid network configuration', 'config');
export const NetSubnetOverlap = defineError('net_subnet_overlap', 400, 'Network subnets overlap', 'config');
export const NetSubnetTooSmall = defineError('net_subnet_too_small', 400, 'Network subnet too small', 'config');
export const NetInvalidPolicy = defineError('net_invalid_policy', 400, 'Invalid network policy', 'validate');
export const NetExhausted = defineError('net_exhausted', 503, 'No free network slot', 'network');
export const NetToolsMissing = defineError('net_tools_missing', 503, 'Host networking tools missing', 'network');
export const NetNotPermitted = defineError('net_not_permitted', 503, 'Not permitted to configure host networking', 'network');
export const NetCommandFailed = defineError('net_command_failed', 500, 'Host network command failed', 'network');
export const NetSetupFailed = defineError('net_setup_failed', 500, 'Network slot set-up failed', 'network');
export const NetTeardownFailed = defineError('net_teardown_failed', 500, 'Network slot teardown failed', 'network');
export const NetLeaseExists = defineError('net_lease_exists', 409, 'VM already holds a network lease', 'network');
export const NetLeaseNotFound = defineError('net_lease_not_found', 404, 'No network lease for this VM', 'network');
export const NetClosed = defineError('net_closed', 503, 'Network service is closed', 'network');
