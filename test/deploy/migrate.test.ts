import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/paths.js';
import { withTestDatabase } from '../helpers/db.js';

// `vidmesh migrate` (the Helm hook Job, the Compose `migrate` service, systemd ExecStartPre): applies
// the schema to an empty database and exits 0; a second run is a no-op.
const tdb = withTestDatabase({ migrate: false });

test('vidmesh migrate brings an empty database up to date, twice without harm', async () => {
  const run = () =>
    spawnSync(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'migrate'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: tdb.current.url ?? '', VIDMESH_LOG_FORMAT: 'json' },
      encoding: 'utf8',
    });
  const before = await tdb.current.db.query(`SELECT to_regclass('public.jobs') AS t`);
  assert.equal((before.rows[0] as { t: string | null }).t, null);
  for (let i = 0; i < 2; i++) {
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /"msg":"migrations applied"/);
  }
  const after = await tdb.current.db.query(`SELECT to_regclass('public.jobs') AS t`);
  assert.equal((after.rows[0] as { t: string | null }).t, 'jobs');
});
