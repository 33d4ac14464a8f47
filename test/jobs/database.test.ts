// The driver layer on both databases: persistence and idempotent migrations on a PGlite data dir,
// rollback that leaves the single PGlite connection usable, listen/notify.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createDatabase, type Database } from '../../src/jobs/index.js';
import { createTestDatabase } from '../helpers/db.js';

test('PGlite in a data dir (parents created) keeps data and re-applies no migration on reopen', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vidmesh-pglite-'));
  try {
    const dir = join(root, '.vidmesh', 'db');
    const first = await createDatabase({ dataDir: dir });
    await first.query(
      `INSERT INTO uploads (id, filename, bytes, sha256, path) VALUES ('u1', 'a.mp4', 5, 'x', 'p')`,
    );
    const applied = (await first.query('SELECT tag FROM vidmesh_migrations')).rowCount;
    await first.close();
    const again = await createDatabase({ dataDir: dir });
    try {
      assert.equal((await again.query('SELECT tag FROM vidmesh_migrations')).rowCount, applied);
      assert.deepEqual((await again.query('SELECT id, bytes FROM uploads')).rows, [{ id: 'u1', bytes: 5 }]);
    } finally {
      await again.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

async function driverChecks(db: Database): Promise<void> {
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO uploads (id, filename, bytes, sha256, path) VALUES ('r1', 'a', 1, 'x', 'p')`,
      );
      await tx.query('SELECT * FROM no_such_table');
    }),
  );
  assert.equal((await db.query(`SELECT 1 FROM uploads WHERE id = 'r1'`)).rowCount, 0, 'rolled back');
  assert.equal((await db.query('SELECT 1 AS one')).rows.length, 1, 'connection still usable');
  const got: Array<string | null> = [];
  const unlisten = await db.listen('vidmesh_test_channel', (p) => got.push(p));
  await db.notify('vidmesh_test_channel', 'hello');
  for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ['hello']);
  await unlisten();
  const conn = await db.connect();
  assert.equal((await conn.query<{ n: number }>('SELECT 2 AS n')).rows[0]?.n, 2);
  await conn.release();
}

for (const driver of ['pglite', 'postgres'] as const) {
  test(`driver on ${driver}: rollback, listen/notify, dedicated connection`, async () => {
    const t = await createTestDatabase({ driver });
    try {
      await driverChecks(t.db);
    } finally {
      await t.drop();
    }
  });
}

test('a prepared statement survives another process changing the table under it (PostgreSQL)', async () => {
  const t = await createTestDatabase({ poolSize: 1 });
  try {
    const other = await t.open({ poolSize: 1 });
    await t.db.query('CREATE TABLE plan_probe (a int)');
    await t.db.query('INSERT INTO plan_probe VALUES (1)');
    const q = () => t.db.query('SELECT * FROM plan_probe', [], { name: 'vidmesh_test_probe' });
    assert.deepEqual((await q()).rows, [{ a: 1 }]);
    await other.query('ALTER TABLE plan_probe ADD COLUMN b int DEFAULT 2');
    assert.deepEqual((await q()).rows, [{ a: 1, b: 2 }]);
    assert.deepEqual((await q()).rows, [{ a: 1, b: 2 }], 'and again on a fresh connection');
  } finally {
    await t.drop();
  }
});
