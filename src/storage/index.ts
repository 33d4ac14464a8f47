/**
 * Storage connectors: fetch a job's source to a local file, publish a rendered ladder directory.
 * Knows nothing of jobs beyond the job id used as a folder name. See docs/storage.md.
 */

export {
  collectGarbage,
  diskUsage,
  type GcReport,
  type PurgeReport,
  purgeRoots,
  removeLocalOutputs,
} from './cleanup.js';
export { contentTypeFor, isMediaFile, isPlaylist, MEDIA_EXTENSIONS } from './content-type.js';
export type { ProgressFn, StorageContext, UploadResolver } from './context.js';
export { DEFAULT_MAX_INLINE_BYTES, DEFAULT_MAX_SOURCE_BYTES } from './context.js';
export type { PublishedFile, PublishOptions, PublishResult } from './destinations.js';
export { publish } from './destinations.js';
export {
  HostNotFoundError,
  IntegrityError,
  InvalidStorageRefError,
  SourceNotFoundError,
  SourceTooLargeError,
  SsrfBlockedError,
  StorageAbortedError,
  StorageRejectedError,
  StorageStalledError,
  StorageTransferError,
  UnsafePathError,
} from './errors.js';
export { hashFile } from './files.js';
export { httpRequest } from './http.js';
export { addDirectory, catIpfsPath, cidOfBytes, FsBlockstore, listFiles, parseIpfsPath } from './ipfs.js';
export { safeJoin, safeKey, safeSegments } from './paths.js';
export { addPin, readPins, removePins } from './pins.js';
export type { DestinationInput, DestinationRef, SourceRef } from './schema.js';
export {
  destinationSchema,
  mimeTypeSchema,
  REDACTED,
  redactSecrets,
  SECRET_FIELDS,
  sourceSchema,
} from './schema.js';
export type { FetchedSource, FetchOptions } from './sources.js';
export { fetchSource } from './sources.js';
export type { SsrfPolicy } from './ssrf.js';
export {
  assertPublicDestination,
  createGuardedAgents,
  guardedLookup,
  isAllowedByPolicy,
  isForbiddenAddress,
} from './ssrf.js';
