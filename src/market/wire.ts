import { z } from 'zod';

/**
 * A ledger account's statement as the API answers it (`GET /api/v1/wallet`, docs/marketplace.md):
 * `balance`, `amount` and `balanceAfter` are HBD strings with 3 decimals, `at` ISO 8601, entries newest
 * first. One shape for the route, the CLI (`vidmesh wallet`) and the dashboard's Wallet page.
 */
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
});

export type StatementView = z.infer<typeof statementViewSchema>;
