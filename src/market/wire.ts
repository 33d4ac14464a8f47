import { z } from 'zod';

/**
 * A ledger account's statement as the API answers it (`GET /api/v1/wallet`, docs/marketplace.md):
 * `balance`, `amount` and `balanceAfter` are HBD strings with 3 decimals, `at` ISO 8601, entries newest
 * first. One shape for the route, the CLI (`vidmesh wallet`) and the dashboard's Wallet page.
 */
/** A withdrawal as the API answers it (`/api/v1/wallet/withdrawals`); `amount` HBD, times ISO 8601. */
export const withdrawalViewSchema = z.object({
  id: z.string(),
  amount: z.string(),
  hiveAccount: z.string(),
  /** `pending` → `signed` (broadcast) → `confirmed`; or `failed` (the amount was refunded). */
  state: z.enum(['pending', 'signed', 'confirmed', 'failed']),
  trxId: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export type WithdrawalView = z.infer<typeof withdrawalViewSchema>;

export const statementViewSchema = z.object({
  account: z.string(),
  balance: z.string(),
  entries: z.array(
    z.object({
      id: z.number(),
      at: z.string(),
      kind: z.string(),
      amount: z.string(),
      balanceAfter: z.string(),
      jobId: z.string().nullable(),
      memo: z.string().nullable(),
    }),
  ),
  /** The account's latest withdrawals with their state (user accounts, when withdrawals are enabled). */
  withdrawals: z.array(withdrawalViewSchema).optional(),
});

export type StatementView = z.infer<typeof statementViewSchema>;
