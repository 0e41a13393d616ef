/**
 * Error codes of the snapshot registry. Every failure that leaves the registry is one of these
 * (or a shared code from platform/errors.ts), so the API edge and the CLI can branch on `code`.
 */
import { defineError } from '../errors.ts';

/** A digest string that is not `sha256:` followed by 64 lowercase hex digits. */
export const RegistryInvalidDigest = defineError('registry_invalid_digest', 400, 'Invalid digest', 'validate');
/** A snapshot name, tag, role, label or reference that breaks the naming rules. */
export const RegistryInvalidName = defineError('registry_invalid_name', 400, 'Invalid registry name', 'validate');
/** A request to the registry that is well-formed but not acceptable (unknown kind, empty files…). */
export const RegistryBadRequest = defineError('registry_bad_request', 400, 'Invalid registry request', 'validate');
/** No blob with that digest in the local store. */
export const RegistryBlobNotFound = defineError('registry_blob_not_found', 404, 'Blob not found', 'registry');
/** No snapshot with that id, name or tag. */
export const RegistrySnapshotNotFound = defineError('registry_snapshot_not_found', 404, 'Snapshot not found', 'registry');
/** A name or tag already points at another snapshot, or an id is taken. */
export const RegistryConflict = defineError('registry_conflict', 409, 'Snapshot name conflict', 'registry');
/** Removing a snapshot that other snapshots descend from, without `force`. */
export const RegistryHasChildren = defineError('registry_has_children', 409, 'Snapshot has descendants', 'registry');
/** Content whose SHA-256 is not the digest it was announced under (pull, import, verify). */
export const RegistryDigestMismatch = defineError('registry_digest_mismatch', 422, 'Digest mismatch', 'registry');
/** The filesystem under the blob store is full. */
export const RegistryDiskFull = defineError('registry_disk_full', 507, 'No space left for the blob store', 'registry');
/** Any other I/O failure of the blob store (permissions, vanished source file…). */
export const RegistryIoError = defineError('registry_io_error', 500, 'Blob store I/O error', 'registry');
/** An OCI image layout or manifest that is malformed or refers to blobs it does not contain. */
export const RegistryInvalidLayout = defineError('registry_invalid_layout', 422, 'Invalid OCI layout or manifest', 'registry');
/** A remote OCI registry answered with an error or could not be reached. */
export const RegistryRemoteError = defineError('registry_remote_error', 502, 'Remote registry error', 'registry');
/** A remote OCI registry refused our credentials (or we had none). */
export const RegistryRemoteUnauthorized = defineError('registry_remote_unauthorized', 401, 'Remote registry refused the credentials', 'registry');
/** Plain HTTP to a non-loopback registry without `insecure`. */
export const RegistryInsecureRefused = defineError('registry_insecure_refused', 400, 'Plain HTTP refused', 'validate');
