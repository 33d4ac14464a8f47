import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTableColumns } from 'drizzle-orm';
import { snakeCase } from './rows.js';
import { encoders, jobEvents, jobs, renditions } from './schema.js';

// SqlRow<T> derives row keys from the schema's property names in snake_case; that is only true while
// every column is declared with exactly that name.
for (const [table, t] of Object.entries({ jobs, renditions, jobEvents, encoders })) {
  test(`${table}: every column's SQL name is its property name in snake_case`, () => {
    for (const [key, column] of Object.entries(getTableColumns(t))) {
      assert.equal(column.name, snakeCase(key), `${table}.${key}`);
    }
  });
}
