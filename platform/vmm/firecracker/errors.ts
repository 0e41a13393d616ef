/**
 * Error catalogue of the Firecracker driver (codes prefixed `fc_`).
 *
 * Upstream faults keep what Firecracker said: `method`, `path`, `status` and its `message` live in
 * `data`, so an operator sees which API call failed and why without reading VMM logs. Lifecycle
 * failures name the step of the boot/restore list that failed (`data.step`) and carry the
 * underlying error on `cause`.
 */
import { defineError } from '../../errors.ts';

/** Firecracker answered a call with `{"fault_message": …}` (400, or 413 for the MMDS store). */
export const FcApiFault = defineError('fc_api_fault', 502, 'Firecracker rejected an API call', 'vmm');
/** micro-http refused the request before Firecracker saw it (`{ "error": … }` body, or 503). */
export const FcApiTransport = defineError('fc_api_transport', 502, 'Firecracker API transport error', 'vmm');
/** No answer within the per-call deadline. */
export const FcApiTimeout = defineError('fc_api_timeout', 504, 'Firecracker API call timed out', 'timeout');
/** The API socket could not be reached, or the connection dropped mid-call. */
export const FcApiUnreachable = defineError('fc_api_unreachable', 502, 'Firecracker API socket unreachable', 'vmm');
/** Refused client-side before sending: a resource id outside `[A-Za-z0-9_]`, or a bad argument. */
export const FcInvalidRequest = defineError('fc_invalid_request', 400, 'Invalid Firecracker API request', 'validate');
/** Refused client-side before sending: the body exceeds Firecracker's payload limit. */
export const FcPayloadTooLarge = defineError('fc_payload_too_large', 413, 'Firecracker API body over the limit', 'validate');

/** The configured firecracker (or jailer) binary does not exist or is not executable. */
export const FcBinaryMissing = defineError('fc_binary_missing', 500, 'Firecracker binary missing', 'config');
/** The process never became ready (socket + `GET /`) before the deadline. */
export const FcStartTimeout = defineError('fc_start_timeout', 504, 'Firecracker did not become ready', 'vmm');
/** The Firecracker process exited while we still needed it. */
export const FcProcessExited = defineError('fc_process_exited', 502, 'Firecracker process exited', 'vmm');
/** A boot step failed; `data.step` names it, `cause` holds the reason. */
export const FcBootFailed = defineError('fc_boot_failed', 502, 'MicroVM boot failed', 'vmm');
/** A restore step failed; `data.step` names it, `cause` holds the reason. */
export const FcRestoreFailed = defineError('fc_restore_failed', 502, 'MicroVM restore failed', 'restore');
/** Taking a snapshot failed; `data.step` names the step. */
export const FcSnapshotFailed = defineError('fc_snapshot_failed', 502, 'MicroVM snapshot failed', 'snapshot');
/** A snapshot file (state, memory, disk) is missing or unreadable. */
export const FcSnapshotMissing = defineError('fc_snapshot_missing', 404, 'Snapshot file missing', 'restore');
/** An operation needs a state the machine is not in (e.g. fork of a stopped VM). */
export const FcInvalidState = defineError('fc_invalid_state', 409, 'MicroVM is not in the required state', 'vmm');
/** The guest agent did not answer its health check through vsock. */
export const FcAgentUnhealthy = defineError('fc_agent_unhealthy', 504, 'Guest agent did not become healthy', 'agent');
/** The driver's options are unusable (missing kernel, bad jailer settings, over-long socket path). */
export const FcConfigInvalid = defineError('fc_config_invalid', 500, 'Firecracker driver misconfigured', 'config');
