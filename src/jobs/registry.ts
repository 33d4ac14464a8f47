import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.js';
import type { StoreContext } from './context.js';
import { EncoderNotFoundError } from './errors.js';
import { type EncoderRow, toEncoder } from './rows.js';
import * as Q from './sql.js';
import type { JobStore } from './store.js';
import type { RegisterEncoderInput } from './types.js';

/** The encoder registry: registration, heartbeats, approval and liveness of encoder nodes. */
export type EncoderRegistry = Pick<
  JobStore,
  | 'registerEncoder'
  | 'heartbeatEncoder'
  | 'getEncoder'
  | 'listEncoders'
  | 'setEncoderApproval'
  | 'markSilentEncodersOffline'
  | 'endSilentAgentSteps'
  | 'endPins'
>;

const notFound = (encoderId: string) =>
  new EncoderNotFoundError(`encoder ${encoderId} not found`, { details: { encoderId } });

/** The stable id of an encoder registered without one: from its did, else its tenant, kind and name. */
/** The id of the encoder registered with did:key `did` (what its registration makes it). */
export function encoderIdForDid(did: string): string {
  return encoderIdOf({ did } as RegisterEncoderInput);
}

function encoderIdOf(input: RegisterEncoderInput): string {
  // The tenant is part of a keyed encoder's identity: no tenant re-registers over another's (or the
  // operator's) encoder row by reusing its name.
  const identity = input.did
    ? `did:${input.did}`
    : input.tenant
      ? `tenant:${input.tenant}:name:${input.kind}:${input.name}`
      : `name:${input.kind}:${input.name}`;
  return `enc-${createHash('sha256').update(identity).digest('hex').slice(0, 24)}`;
}

export function createRegistry(ctx: StoreContext): EncoderRegistry {
  const { db, clock, feed } = ctx;

  const getEncoder = async (encoderId: string) => {
    const { rows } = await db.query<EncoderRow>(Q.GET_ENCODER, [encoderId]);
    if (!rows[0]) throw notFound(encoderId);
    return toEncoder(rows[0]);
  };

  return {
    async registerEncoder(input) {
      if (!input.name || input.name.length > 200)
        throw new ValidationError('encoder name must be 1..200 characters');
      const id = input.id ?? encoderIdOf(input);
      const { rows } = await db.query<{ id: string }>(Q.REGISTER_ENCODER, [
        id,
        input.did ?? null,
        input.publicKey ?? null,
        input.name,
        input.kind,
        JSON.stringify(input.capabilities),
        input.capabilities.tags ?? [],
        input.version ?? null,
        input.tenant ?? null,
        input.approval ?? 'approved',
        clock(),
        input.user?.tenant ?? null,
        input.user?.name ?? null,
      ]);
      return getEncoder(rows[0]?.id ?? id);
    },

    async heartbeatEncoder(encoderId, update = {}) {
      const { rowCount } = await db.query(Q.HEARTBEAT_ENCODER, [
        encoderId,
        clock(),
        update.capabilities ? JSON.stringify(update.capabilities) : null,
        update.host ?? null,
        update.load ? JSON.stringify(update.load) : null,
      ]);
      if (rowCount === 0) throw notFound(encoderId);
      return getEncoder(encoderId);
    },

    getEncoder,

    async listEncoders(filter = {}) {
      const { rows } = await db.query<EncoderRow>(Q.LIST_ENCODERS, [
        filter.status ?? null,
        filter.kind ?? null,
      ]);
      return rows.map(toEncoder);
    },

    async setEncoderApproval(encoderId, approval) {
      const { rowCount } = await db.query(Q.SET_ENCODER_APPROVAL, [encoderId, approval]);
      if (rowCount === 0) throw notFound(encoderId);
      return getEncoder(encoderId);
    },

    async endSilentAgentSteps(silenceMs) {
      const now = clock();
      const { rows } = await db.query<{ id: string }>(Q.END_SILENT_AGENT_STEPS, [
        now,
        new Date(now.getTime() - silenceMs),
      ]);
      return rows.map((r) => r.id);
    },

    async endPins() {
      const { rows } = await db.query<{ id: string; dead: boolean }>(Q.END_PINS, [clock()]);
      if (rows.length > 0) feed.wake();
      return rows.map((r) => ({ id: r.id, dead: r.dead }));
    },

    async markSilentEncodersOffline(silenceMs) {
      const { rows } = await db.query<{ id: string }>(Q.MARK_SILENT_OFFLINE, [
        new Date(clock().getTime() - silenceMs),
      ]);
      return rows.map((r) => r.id);
    },
  };
}
