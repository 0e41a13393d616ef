/**
 * The error catalogue, pinned: every stable code the platform can return and its HTTP status.
 * Changing a code or its status breaks clients; this test makes that a deliberate edit.
 * A new code must be added here (run the test: it prints the missing lines).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCatalogue } from '../../platform/errors.ts';
import '../../platform/functions/errors.ts';
import '../../platform/vmm/errors.ts';
import '../../platform/vmm/firecracker/errors.ts';
import '../../platform/registry/errors.ts';
import '../../platform/network/errors.ts';
import '../../platform/image/errors.ts';
import '../../agent/vsock/errors.ts';
import '../../platform/guest/vsock.ts';
import '../../platform/guest/agent-client.ts';
import '../../platform/store/db.ts';
import '../../platform/config/schema.ts';
import '../../platform/auth/errors.ts';
import '../../platform/secrets/errors.ts';
import '../../platform/async/errors.ts';
import '../../platform/vmm/process/seccomp/errors.ts';
import '../../platform/cli/errors.ts';
import '../../platform/console/errors.ts';

const pinned: Array<[string, number]> = [
  ['bad_request', 400],
  ['invalid_name', 400],
  ['not_found', 404],
  ['conflict', 409],
  ['payload_too_large', 413],
  ['unsupported', 501],
  ['method_not_implemented', 501],
  ['headers_too_large', 431],
  ['request_timeout', 408],
  ['internal', 500],
  ['shutting_down', 503],
  ['function_not_found', 404],
  ['version_not_found', 404],
  ['build_failed', 400],
  ['no_entry', 400],
  ['function_load_failed', 422],
  ['function_warmup_failed', 422],
  ['function_threw', 500],
  ['function_invalid_response', 500],
  ['function_timeout', 504],
  ['function_crashed', 502],
  ['function_out_of_memory', 502],
  ['seccomp_build_failed', 500],
  ['instance_unavailable', 503],
  ['function_unavailable', 503],
  ['queue_full', 429],
  ['client_closed_request', 400],
  ['env_invalid', 400],
  ['vm_start_failed', 502],
  ['vm_not_running', 409],
  ['vm_invalid_state', 409],
  ['driver_unavailable', 503],
  ['fc_api_fault', 502],
  ['fc_api_transport', 502],
  ['fc_api_timeout', 504],
  ['fc_api_unreachable', 502],
  ['fc_invalid_request', 400],
  ['fc_payload_too_large', 413],
  ['fc_binary_missing', 500],
  ['fc_start_timeout', 504],
  ['fc_process_exited', 502],
  ['fc_boot_failed', 502],
  ['fc_restore_failed', 502],
  ['fc_snapshot_failed', 502],
  ['fc_snapshot_missing', 404],
  ['fc_invalid_state', 409],
  ['fc_agent_unhealthy', 504],
  ['fc_config_invalid', 500],
  ['registry_invalid_digest', 400],
  ['registry_invalid_name', 400],
  ['registry_bad_request', 400],
  ['registry_blob_not_found', 404],
  ['registry_snapshot_not_found', 404],
  ['registry_conflict', 409],
  ['registry_has_children', 409],
  ['registry_digest_mismatch', 422],
  ['registry_disk_full', 507],
  ['registry_io_error', 500],
  ['registry_invalid_layout', 422],
  ['registry_remote_error', 502],
  ['registry_remote_unauthorized', 401],
  ['registry_insecure_refused', 400],
  ['net_invalid_config', 400],
  ['net_subnet_overlap', 400],
  ['net_subnet_too_small', 400],
  ['net_invalid_policy', 400],
  ['net_exhausted', 503],
  ['net_tools_missing', 503],
  ['net_not_permitted', 503],
  ['net_command_failed', 500],
  ['net_setup_failed', 500],
  ['net_teardown_failed', 500],
  ['net_lease_exists', 409],
  ['net_lease_not_found', 404],
  ['net_closed', 503],
  ['image_tool_missing', 500],
  ['image_input_missing', 400],
  ['image_tool_failed', 500],
  ['image_too_small', 400],
  ['image_invalid_option', 400],
  ['vsock_addon_missing', 500],
  ['vsock_node_unsupported', 500],
  ['vsock_unavailable', 503],
  ['vsock_port_in_use', 409],
  ['vsock_listen_failed', 500],
  ['vsock_self_test_failed', 500],
  ['vsock_build_failed', 500],
  ['vsock_refused', 502],
  ['vsock_timeout', 504],
  ['vsock_failed', 502],
  ['agent_request_failed', 502],
  ['store_error', 500],
  ['config_invalid', 400],
  ['unauthorized', 401],
  ['forbidden', 403],
  ['auth_invalid_request', 400],
  ['auth_token_not_found', 404],
  ['auth_token_file', 500],
  ['console_session_required', 401],
  ['console_link_invalid', 401],
  ['console_csrf_invalid', 403],
  ['secret_invalid_name', 400],
  ['secret_invalid_value', 400],
  ['secret_too_large', 413],
  ['secret_not_found', 404],
  ['secret_corrupt', 500],
  ['secret_key_invalid', 500],
  ['cron_invalid', 400],
  ['cron_not_found', 404],
  ['invocation_not_found', 404],
  ['invocation_not_retryable', 409],
  ['invocation_interrupted', 503],
  ['invocation_rejected', 422],
  ['cli_token_missing', 401],
];

test('every code is pinned with its status', () => {
  const actual = [...errorCatalogue()].map(([code, f]) => [code, f.status] as [string, number]);
  const missing = actual.filter(([c]) => !pinned.some(([p]) => p === c));
  assert.equal(missing, [], `add to the pinned table:\n${missing.map(([c, s]) => `  ['${c}', ${s}],`).join('\n')}`);
  assert.equal(Object.fromEntries(actual), Object.fromEntries(pinned));
});

test('codes are snake_case and statuses are HTTP errors', () => {
  for (const [code, f] of errorCatalogue()) {
    assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, code);
    assert.ok(f.status >= 400 && f.status <= 599, `${code}: ${f.status}`);
    assert.ok(f.title.length > 0, `${code} has a title`);
    const err = f('a sentence');
    assert.is(err.code, code);
    assert.ok(f.is(err));
  }
});

test.run();
