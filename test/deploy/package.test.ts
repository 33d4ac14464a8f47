import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/paths.js';
import { cliCommands } from './helpers.js';

// The npm package ships the compiled program, migrations and dashboard only, and `npm run setup`
// leaves `vidmesh` on PATH (scripts/link-bin.sh).
const root = packageRoot();

test('npm pack ships no tests, sources or source maps, and everything the bin needs', async () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const files =
    (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
  const shipped = new Set(files);
  const bad = files.filter(
    (f) =>
      /\.test\.js$|\.map$|\.ts$|__snapshots__/.test(f) || /^(test|bench|src|deploy|docs|scripts)\//.test(f),
  );
  assert.deepEqual(bad, [], 'no tests, TypeScript sources, source maps or repo-only folders');
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  for (const need of [
    pkg.bin.vidmesh,
    'dist/src/coordinator/app.js',
    'drizzle/meta/_journal.json',
    'web/dist/index.html',
  ]) {
    assert.ok(need && shipped.has(need.replace(/^\.\//, '')), `${need} shipped`);
  }
  assert.ok(
    files.some((f) => /^drizzle\/\d{4}_.*\.sql$/.test(f)),
    'migrations shipped',
  );
});

test('scripts/link-bin.sh puts a working vidmesh on PATH', async () => {
  const bin = await mkdtemp(join(tmpdir(), 'vidmesh-bin-'));
  try {
    execFileSync('bash', [join(root, 'scripts', 'link-bin.sh'), bin], { stdio: 'ignore' });
    const version = execFileSync('vidmesh', ['--version'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      encoding: 'utf8',
    });
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.trim(), pkg.version);
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
});

test('scripts: valid bash; ensure-postgres.sh leaves an answering server alone', () => {
  const scripts = ['setup.sh', 'test.sh', 'quickstart.sh', 'link-bin.sh', 'ensure-postgres.sh'];
  for (const s of scripts) execFileSync('bash', ['-n', join(root, 'scripts', s)]);
  execFileSync('bash', ['-n', join(root, '.ci', 'run')]);
  // The test server answers (these tests need it): the script must do nothing and succeed.
  const out = execFileSync('bash', [join(root, 'scripts', 'ensure-postgres.sh')], {
    encoding: 'utf8',
    env: { ...process.env, VIDMESH_TEST_DATABASE_URL: '' },
  });
  assert.equal(out, '');
});

test('one CLI for every role of the image: serve, encoder, agent, migrate', () => {
  const commands = cliCommands(join(root, 'dist', 'src', 'cli', 'main.js'));
  for (const c of ['serve', 'encoder', 'agent', 'migrate', 'config']) assert.ok(commands.has(c), c);
});
