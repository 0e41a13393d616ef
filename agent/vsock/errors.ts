/**
 * Error codes of the guest's AF_VSOCK listener (agent/vsock). The host side of vsock
 * (platform/guest/vsock.ts) owns `vsock_refused`, `vsock_timeout` and `vsock_failed`; these are the
 * guest-side failures: the addon is not built, the Node major is not the one the `tcp_wrap`
 * adoption was verified on, the kernel has no AF_VSOCK, or the port is taken.
 */
import { defineError } from '../../platform/errors.ts';

export const VsockAddonMissing = defineError('vsock_addon_missing', 500, 'The AF_VSOCK addon is not built', 'agent');
export const VsockNodeUnsupported = defineError('vsock_node_unsupported', 500, 'This Node version is not the one the vsock listener was verified on', 'agent');
export const VsockUnavailable = defineError('vsock_unavailable', 503, 'The kernel has no usable AF_VSOCK', 'agent');
export const VsockPortInUse = defineError('vsock_port_in_use', 409, 'The vsock port is already bound', 'agent');
export const VsockListenFailed = defineError('vsock_listen_failed', 500, 'Could not listen on vsock', 'agent');
export const VsockSelfTestFailed = defineError('vsock_self_test_failed', 500, 'The vsock self-test failed', 'agent');
export const VsockBuildFailed = defineError('vsock_build_failed', 500, 'The AF_VSOCK addon did not build', 'build');
