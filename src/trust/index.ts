/**
 * The trust room (docs/verification.md): verification of results from encoders that are not trusted,
 * their reputation, suspension and per-job exclusion. Beside `jobs`: it reads job results and writes
 * its own rows, never HTTP; the coordinator's routes call it.
 */
export * from './reputation.js';
export * from './verify.js';
export * from './verify-outputs.js';
