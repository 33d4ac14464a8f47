/**
 * The community marketplace (docs/marketplace.md): offers and bids of community encoders, a
 * double-entry escrow ledger in milli-HBD, the Hive rail (deposits and payouts with dhive) and Hive
 * Keychain signatures. Uses src/jobs (reads job state, reserves jobs through the store); the jobs room
 * knows nothing of it.
 */
export * from './errors.js';
export * from './hive.js';
export * from './ledger.js';
export * from './market.js';
export * from './money.js';
export * from './rail.js';
export * from './settlement.js';
export * from './statements.js';
export * from './wire.js';
export * from './withdrawals.js';
export * from './worker.js';
