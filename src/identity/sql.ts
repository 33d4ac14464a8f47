/**
 * The slice of a SQL driver the identity stores need: one parameterized statement at a time
 * (`$1…` placeholders, values always bound). node-postgres `Pool`/`Client` and PGlite both fit, so
 * the stores run on PostgreSQL and on the embedded default alike. Statements are written to need no
 * driver-specific result fields (counts come back as rows), and no transactions.
 */
export interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Rows of a query, typed by the caller (the SQL text decides the shape; kept in one place per store). */
export async function queryRows<R>(db: SqlClient, text: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query(text, values)).rows as R[];
}

/** A driver's timestamp value as a Date (pg and PGlite return Date for timestamptz; text is tolerated). */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(String(value));
}
