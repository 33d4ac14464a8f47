import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError, loadConfig, redactedConfig, resolveConfig, settings } from '../../src/config.js';
import { packageRoot } from '../../src/paths.js';

// The config file (`--config` / `VIDMESH_CONFIG`): same table as variables and flags, env and flags win,
// unknown keys and bad values fail naming the file and key, `vidmesh config print` redacts secrets.
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-config-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('YAML file: values, arrays for lists; env over file; flag over env', async () => {
  const path = await file(
    'vidmesh.yaml',
    [
      'port: 9001',
      'leaseMs: 30000',
      'allowPrivateNetworks: true',
      'ssrfAllow: [minio.internal, 10.1.0.0/16]',
      'fileRoots: /srv/a, /srv/b',
      'hwaccel: none',
      'publicUrl:', // null: unset, the default applies
      '',
    ].join('\n'),
  );
  const c = loadConfig({ env: { VIDMESH_CONFIG: path } });
  assert.equal(c.port, 9001);
  assert.equal(c.leaseMs, 30_000);
  assert.equal(c.allowPrivateNetworks, true);
  assert.deepEqual(c.ssrfAllow, ['minio.internal', '10.1.0.0/16']);
  assert.deepEqual(c.fileRoots, ['/srv/a', '/srv/b']);
  assert.equal(c.hwaccel, 'none');
  assert.equal(c.publicUrl, undefined);
  assert.equal(c.encoders, 1, 'keys the file does not name keep their defaults');
  assert.equal(loadConfig({ env: { VIDMESH_CONFIG: path, PORT: '9002' } }).port, 9002);
  assert.equal(
    loadConfig({ env: { VIDMESH_CONFIG: path, PORT: '9002' }, flags: { port: '9003' } }).port,
    9003,
  );
  assert.equal(loadConfig({ env: {}, flags: { config: path } }).port, 9001, '--config names the file too');
  const origins = Object.fromEntries(
    resolveConfig({ env: { VIDMESH_CONFIG: path, PORT: '9002' } }).map((r) => [r.key, r.origin]),
  );
  assert.equal(origins.port, 'env');
  assert.equal(origins.leaseMs, 'file');
  assert.equal(origins.encoders, 'default');
});

test('JSON file; unknown keys, bad values, bad syntax and missing files fail naming the file', async () => {
  const json = await file('vidmesh.json', JSON.stringify({ encoders: 0, maxAttempts: 5 }));
  const c = loadConfig({ env: { VIDMESH_CONFIG: json } });
  assert.equal(c.encoders, 0);
  assert.equal(c.maxAttempts, 5);

  const typo = await file('typo.yaml', 'prot: 8080\n');
  assert.throws(
    () => loadConfig({ env: { VIDMESH_CONFIG: typo } }),
    (e: unknown) => e instanceof ConfigError && /typo\.yaml: unknown setting "prot"/.test(e.message),
  );
  const bad = await file('bad.yaml', 'port: 70000\n');
  assert.throws(() => loadConfig({ env: { VIDMESH_CONFIG: bad } }), /bad\.yaml: port: .*70000/);
  const secret = await file('secret.yaml', 'databaseUrl: mysql://u:hunter2@db/x\n');
  assert.throws(
    () => loadConfig({ env: { VIDMESH_CONFIG: secret } }),
    (e: unknown) => e instanceof ConfigError && /databaseUrl/.test(e.message) && !/hunter2/.test(e.message),
  );
  const broken = await file('broken.yaml', 'port: [1, 2\n');
  assert.throws(() => loadConfig({ env: { VIDMESH_CONFIG: broken } }), /broken\.yaml: not valid YAML/);
  const list = await file('list.yaml', '- port\n');
  assert.throws(() => loadConfig({ env: { VIDMESH_CONFIG: list } }), /must be a mapping/);
  assert.throws(
    () => loadConfig({ env: { VIDMESH_CONFIG: join(dir, 'missing.yaml') } }),
    /missing\.yaml: cannot read config file \(ENOENT\)/,
  );
  const toml = await file('vidmesh.toml', 'port = 1\n');
  assert.throws(() => loadConfig({ env: { VIDMESH_CONFIG: toml } }), /must end in \.yaml, \.yml or \.json/);
  const nested = await file('nested.yaml', 'config: other.yaml\n');
  assert.throws(() => loadConfig({ env: { VIDMESH_CONFIG: nested } }), /unknown setting "config"/);
});

test('redactedConfig hides the API key and the database password only', () => {
  const rows = redactedConfig(
    resolveConfig({
      env: {
        VIDMESH_API_KEY: 'vmk_admin_supersecretsupersecret',
        DATABASE_URL: 'postgres://vidmesh:hunter2@db:5432/vidmesh',
      },
    }),
  );
  const by = Object.fromEntries(rows.map((r) => [r.key, r.value]));
  assert.equal(by.apiKey, '[redacted]');
  assert.equal(by.databaseUrl, 'postgres://vidmesh:redacted@db:5432/vidmesh');
  assert.equal(by.port, 8080);
});

test('vidmesh config print and the global --config / --log-level flags', async () => {
  const path = await file(
    'print.yaml',
    'port: 9100\napiKey: vmk_admin_supersecretsupersecret\nlogLevel: debug\n',
  );
  const r = cli(['config', 'print', '--json', '--config', path], { PORT: '9200' });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, { value: unknown; origin: string }>;
  assert.deepEqual(out.port, { value: 9200, origin: 'env' });
  assert.deepEqual(out.logLevel, { value: 'debug', origin: 'file' });
  assert.deepEqual(out.apiKey, { value: '[redacted]', origin: 'file' });
  assert.doesNotMatch(r.stdout, /supersecret/);

  // Global flags go before or after the command name; a flag overrides the file.
  const before = cli(['--log-level', 'warn', 'config', 'print', '--json', '--config', path]);
  assert.equal((JSON.parse(before.stdout) as typeof out).logLevel?.value, 'warn');
  const human = cli(['config', 'print'], { VIDMESH_CONFIG: path });
  assert.match(human.stdout, /^port\s+9100\s+\(file\)$/m);

  for (const cmd of [['serve'], ['encoder'], ['jobs', 'list'], ['config', 'print']]) {
    const bad = cli([...cmd, '--log-level', 'loud']);
    assert.equal(bad.code, 2, `${cmd.join(' ')} refuses a bad level`);
    assert.match(bad.stderr, /--log-level: .*\[invalid_config\]/);
  }
  const badFile = cli(['serve', '--config', join(dir, 'nope.yaml')]);
  assert.equal(badFile.code, 2);
  assert.match(badFile.stderr, /nope\.yaml: cannot read config file/);
});

/** Starts `vidmesh serve` (embedded PGlite, no encoders) and returns its stderr up to its ready lines. */
async function serveUntilReady(args: string[]): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
      'serve',
      '--port',
      '0',
      '--encoders',
      '0',
      ...args,
    ],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, VIDMESH_DATA_DIR: join(dir, `d${Math.random()}`) },
    },
  );
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  try {
    const deadline = Date.now() + 60_000;
    // The logger writes asynchronously: the plain `serving at` line can come before the ready log line.
    while (!/vidmesh serving at/.test(err) || !/vidmesh coordinator ready/.test(err)) {
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`serve did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return err;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

test('logs: JSON lines when stderr is not a terminal, pretty with --log-format pretty', async () => {
  const json = await serveUntilReady(['--log-level', 'debug']);
  const ready = json.split('\n').find((l) => l.includes('vidmesh coordinator ready'));
  assert.ok(ready, json);
  assert.equal((JSON.parse(ready) as { level: number }).level, 30);
  const pretty = await serveUntilReady(['--log-format', 'pretty']);
  assert.match(pretty, /INFO.*vidmesh coordinator ready/);
  assert.doesNotMatch(pretty, /^\{"level"/m);
});

test('docs/configuration.md gives every setting its config-file key', async () => {
  const doc = await readFile(join(packageRoot(), 'docs', 'configuration.md'), 'utf8');
  for (const [key, s] of Object.entries(settings)) {
    const row = doc.split('\n').find((l) => new RegExp(`^\\|\\s*\`${s.env}\`\\s*\\|`).test(l));
    assert.ok(row, `${s.env} documented`);
    const fileKey = row.split('|')[3]?.trim();
    assert.equal(fileKey, key === 'config' ? '—' : `\`${key}\``, `${s.env} file key`);
  }
});

test('logs: format auto is pino-pretty on a terminal (script(1) gives the process a pty)', (t) => {
  if (spawnSync('script', ['--version']).status !== 0) return t.skip('script(1) not installed');
  const logJs = join(packageRoot(), 'dist', 'src', 'log.js');
  const program = `import(${JSON.stringify(logJs)}).then((m) => m.createLogger().info({ a: 1 }, "hello tty"))`;
  const r = spawnSync('script', ['-qfec', `${process.execPath} -e '${program}'`, '/dev/null'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm' },
  });
  assert.equal(r.status, 0, r.stderr);
  const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plain, /INFO.*hello tty/);
  assert.doesNotMatch(plain, /"msg":"hello tty"/);
});
