import type { Queryable } from '../jobs/index.js';

/**
 * The slice of the job store's driver the identity stores use: `Queryable` of src/jobs (one bound-
 * parameter statement at a time), implemented there by node-postgres and by PGlite, so the stores run
 * on PostgreSQL and on the embedded default alike. Statements are written to need no transaction.
 */
export type SqlClient = Pick<Queryable, 'query'>;

/** Rows of a query, typed by the caller (the SQL text decides the shape; kept in one place per store). */
export async function queryRows<R>(db: SqlClient, text: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(text, values)).rows;
}

/** A driver's timestamp value as a Date (pg and PGlite return Date for timestamptz; text is tolerated). */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(String(value));
}
