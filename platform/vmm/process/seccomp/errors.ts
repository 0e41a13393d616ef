/**
 * Error code of the seccomp filter's build (platform/vmm/process/seccomp). A host without a C
 * compiler or libseccomp-dev is not an error (ensureSeccompFilter says what to install); this is
 * the case where the tools are there and filter.c still did not build or run: a bug to fix.
 */
import { defineError } from '../../../errors.ts';

export const SeccompBuildFailed = defineError('seccomp_build_failed', 500, 'The seccomp filter did not build', 'build');
