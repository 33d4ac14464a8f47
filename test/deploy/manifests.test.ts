import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type IPodMonitor,
  type IServiceMonitor,
  PodMonitor,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DockerfileParser } from 'dockerfile-ast';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { type IJob, Job } from 'kubernetes-models/batch/v1';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  type IConfigMap,
  type IEnvVar,
  type ISecret,
  type IService,
  Secret,
  Service,
} from 'kubernetes-models/v1';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { jobSpecSchema } from '../../src/jobs/spec.js';
import { packageRoot } from '../../src/paths.js';
import { type Manifest, renderChart } from './gotemplate.js';
import { cliCommands, interpolateDefaults, KNOWN_VARIABLES } from './helpers.js';

// Deployment artifacts, checked without a container engine, Kubernetes or helm (none runs here,
// docs/deploy.md): the Dockerfile parsed, compose.yaml and the chart's rendered manifests validated
// structurally (Kubernetes JSON schemas of kubernetes-models) and wired to settings that exist.
const root = packageRoot();
const deploy = join(root, 'deploy');
const mainJs = join(root, 'dist', 'src', 'cli', 'main.js');
const commands = cliCommands(mainJs);

test('Dockerfile: multi-stage, Debian slim with Debian ffmpeg, non-root, vidmesh entrypoint, /health check', async () => {
  const text = await readFile(join(root, 'Dockerfile'), 'utf8');
  const df = DockerfileParser.parse(text);
  const stages: Array<{ from: string; instructions: Array<{ keyword: string; args: string }> }> = [];
  const args = new Map<string, string>();
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    // The instruction's text after its keyword, flags included (`COPY --from=build …`, `HEALTHCHECK --interval=…`).
    const content = ins
      .getTextContent()
      .replace(/\\\n\s*/g, ' ')
      .replace(/^\s*\w+\s+/, '');
    if (keyword === 'ARG' && stages.length === 0) {
      const [k, v] = content.split('=');
      args.set(k as string, v ?? '');
    }
    if (keyword === 'FROM')
      stages.push({
        from: content.replace(/\$\{(\w+)\}/g, (_m, k: string) => args.get(k) ?? ''),
        instructions: [],
      });
    else stages[stages.length - 1]?.instructions.push({ keyword, args: content });
  }
  assert.ok(stages.length >= 2, 'multi-stage');
  const runtime = stages[stages.length - 1] as (typeof stages)[number];
  assert.match(
    runtime.from,
    /^node:20-bookworm-slim AS runtime$/,
    'Debian (bookworm) slim base with Node 20',
  );
  const find = (k: string) => runtime.instructions.filter((i) => i.keyword === k);
  assert.ok(
    find('RUN').some((r) => /apt-get install[^&]*\bffmpeg\b/.test(r.args)),
    "ffmpeg from Debian's apt in the runtime stage",
  );
  assert.ok(!find('RUN').some((r) => /npm (install|ci)/.test(r.args)), 'no npm install in the runtime stage');
  assert.ok(
    find('COPY').some((c) => c.args.startsWith('--from=build')),
    'artifacts come from the build stage',
  );
  const user = find('USER').at(-1)?.args ?? '';
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (USER ${user})`);
  const entry = JSON.parse(find('ENTRYPOINT').at(-1)?.args ?? '[]') as string[];
  assert.equal(entry.at(-1), 'vidmesh', 'vidmesh is the entrypoint');
  assert.ok(
    find('RUN').some((r) => /ln -s \S+\/dist\/src\/cli\/main\.js \/usr\/local\/bin\/vidmesh/.test(r.args)),
  );
  assert.deepEqual(JSON.parse(find('CMD').at(-1)?.args ?? '[]'), ['serve']);
  const health = find('HEALTHCHECK').at(-1)?.args ?? '';
  assert.match(health, /^--interval=\S+ .*CMD /);
  assert.match(health, /\/health/);
  assert.ok(find('EXPOSE').some((e) => e.args === '8080'));
  // Every file the build stage copies exists and is not excluded by .dockerignore.
  const ignored = (await readFile(join(root, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const must of ['node_modules', '.git', 'dist', '.vidmesh'])
    assert.ok(ignored.includes(must), `.dockerignore ${must}`);
  for (const copy of (stages[0] as (typeof stages)[number]).instructions.filter(
    (i) => i.keyword === 'COPY',
  )) {
    const parts = copy.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(root, src)), `COPY ${src} exists`);
      assert.ok(!ignored.includes(src), `COPY ${src} is not in .dockerignore`);
    }
  }
});

test('compose.yaml: PostgreSQL, 2 coordinators, 2 failover encoders, S3 store, Prometheus, Grafana, wired by environment', async () => {
  const compose = parseYaml(await readFile(join(deploy, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };
  const services = compose.services;
  const names = Object.keys(services);
  for (const s of [
    'postgres',
    'minio',
    'migrate',
    'coordinator-1',
    'coordinator-2',
    'encoder-1',
    'encoder-2',
    'prometheus',
    'grafana',
  ]) {
    assert.ok(names.includes(s), `service ${s}`);
  }
  const vidmesh = names.filter(
    (n) => (services[n]?.build as { dockerfile?: string } | undefined)?.dockerfile,
  );
  assert.deepEqual(vidmesh.sort(), ['coordinator-1', 'coordinator-2', 'encoder-1', 'encoder-2', 'migrate']);
  for (const [name, svc] of Object.entries(services)) {
    assert.ok(typeof svc.image === 'string', `${name} has an image`);
    const deps = Array.isArray(svc.depends_on)
      ? svc.depends_on
      : Object.keys((svc.depends_on as object) ?? {});
    for (const d of deps as string[]) assert.ok(names.includes(d), `${name} depends on existing ${d}`);
    for (const v of (svc.volumes as string[] | undefined) ?? []) {
      const src = v.split(':')[0] as string;
      if (src.startsWith('.')) assert.ok(existsSync(join(deploy, src)), `${name} mounts existing ${src}`);
      else assert.ok(src in compose.volumes, `${name} volume ${src} declared`);
    }
  }
  const envOf = (n: string) =>
    Object.fromEntries(
      Object.entries((services[n]?.environment as Record<string, string>) ?? {}).map(([k, v]) => [
        k,
        interpolateDefaults(String(v)),
      ]),
    );
  for (const n of vidmesh) {
    const svc = services[n] as { command: string[]; build: { context: string; dockerfile: string } };
    assert.ok(
      existsSync(join(deploy, svc.build.context, svc.build.dockerfile)),
      'build context holds the Dockerfile',
    );
    assert.ok(commands.has(svc.command[0] as string), `${n} runs a vidmesh command (${svc.command[0]})`);
    const env = envOf(n);
    for (const k of Object.keys(env)) assert.ok(KNOWN_VARIABLES.has(k), `${n}: ${k} is a vidmesh variable`);
    loadConfig({ env }); // every value valid
  }
  for (const n of ['migrate', 'coordinator-1', 'coordinator-2']) {
    assert.match(envOf(n).DATABASE_URL ?? '', /^postgres:\/\/vidmesh:[^@]+@postgres:5432\/vidmesh$/, n);
  }
  assert.equal(envOf('coordinator-1').VIDMESH_SECRET_KEY, envOf('coordinator-2').VIDMESH_SECRET_KEY);
  assert.equal(envOf('coordinator-1').VIDMESH_ENCODERS, '0');
  for (const n of ['encoder-1', 'encoder-2']) {
    const env = envOf(n);
    assert.equal(env.DATABASE_URL, undefined, `${n} uses the agent API, not the database`);
    const urls = loadConfig({ env }).coordinators;
    assert.deepEqual(
      urls.map((u) => new URL(u).hostname).sort(),
      ['coordinator-1', 'coordinator-2'],
      `${n} fails over`,
    );
    assert.ok(urls.every((u) => new URL(u).port === '8080'));
    assert.equal(loadConfig({ env }).apiKey, loadConfig({ env: envOf('coordinator-1') }).apiKey);
  }
  // Prometheus scrapes services that exist and loads the alert rules; Grafana gets the dashboard.
  const prom = parseYaml(await readFile(join(deploy, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  };
  const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
  assert.deepEqual(targets.map((t) => t.split(':')[0]).sort(), [
    'coordinator-1',
    'coordinator-2',
    'encoder-1',
    'encoder-2',
  ]);
  const promMounts = services.prometheus?.volumes as string[];
  for (const rule of prom.rule_files)
    assert.ok(
      promMounts.some((m) => m.split(':')[1] === rule),
      `rule file ${rule} mounted`,
    );
  assert.ok(promMounts.some((m) => m.startsWith('./prometheus-alerts.yml:')));
  const grafanaMounts = services.grafana?.volumes as string[];
  assert.ok(grafanaMounts.some((m) => m.startsWith('./grafana-dashboard.json:/var/lib/grafana/dashboards/')));
  const ds = parseYaml(
    await readFile(join(deploy, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8'),
  ) as {
    datasources: Array<{ url: string; type: string }>;
  };
  assert.equal(ds.datasources[0]?.url, 'http://prometheus:9090');
  const dash = JSON.parse(await readFile(join(deploy, 'grafana-dashboard.json'), 'utf8')) as {
    templating: { list: Array<{ name: string; type: string }> };
  };
  // Provisioned dashboards are not "imported": ${DS_PROMETHEUS} must resolve as a dashboard variable.
  assert.ok(dash.templating.list.some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource'));
});

const SECRETS = {
  databaseUrl: 'postgres://vidmesh:pw@db:5432/vidmesh',
  apiKey: 'vmk_admin_0123456789abcdef',
  secretKey: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
};
const chartDir = join(deploy, 'helm', 'vidmesh');

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
};

/** Renders the chart and validates every manifest against its Kubernetes (or operator) JSON schema. */
function render(values: Record<string, unknown>): Manifest[] {
  const manifests = renderChart(chartDir, { values, releaseName: 'prod' });
  for (const m of manifests) {
    const key = `${m.doc.apiVersion}/${m.doc.kind}`;
    const Model = MODELS[key];
    assert.ok(Model, `${m.template}: ${key} has a schema here`);
    try {
      new Model(m.doc as never).validate();
    } catch (err) {
      assert.fail(`${m.template} (${key}) is invalid: ${(err as Error).message}`);
    }
    const containers = ((m.doc.spec as { template?: { spec?: { containers?: unknown[] } } })?.template?.spec
      ?.containers ?? []) as Array<{
      env?: Array<{ name: string }>;
      args?: string[];
    }>;
    for (const c of containers) {
      for (const e of c.env ?? [])
        assert.ok(KNOWN_VARIABLES.has(e.name), `${m.template}: ${e.name} is a vidmesh variable`);
      assert.ok(commands.has(c.args?.[0] ?? ''), `${m.template}: runs a vidmesh command (${c.args?.[0]})`);
    }
  }
  return manifests;
}

/** The rendered documents of one kind (and name), typed by the models' interfaces. */
function all<T>(ms: Manifest[], k: string, name?: string): T[] {
  return ms
    .filter(
      (m) => m.doc.kind === k && (name === undefined || (m.doc.metadata as { name: string }).name === name),
    )
    .map((m) => m.doc as T);
}
/** T with every optional field required, for reading fields the test asserts on (absent = TypeError). */
type Req<T> =
  T extends Array<infer U>
    ? Array<Req<U>>
    : T extends object
      ? { [K in keyof T]-?: Req<NonNullable<T[K]>> }
      : T;
function one<T>(ms: Manifest[], k: string, name?: string): Req<T> {
  const found = all<T>(ms, k, name);
  assert.equal(found.length, 1, `one ${k} ${name ?? ''}`);
  return found[0] as Req<T>;
}

test('Helm chart, defaults: 2+ ready-probed coordinators with a PDB, encoders, secrets, migration hook, ServiceMonitor', () => {
  const ms = render({ secrets: SECRETS });
  const coord = one<IDeployment>(ms, 'Deployment', 'prod-vidmesh-coordinator');
  assert.ok(coord.spec.replicas >= 2);
  const c = coord.spec.template.spec.containers[0];
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  assert.equal(c.livenessProbe.httpGet.path, '/health');
  assert.deepEqual(c.args, ['serve']);
  assert.equal(coord.spec.template.spec.securityContext.runAsNonRoot, true);
  assert.equal(coord.spec.template.spec.securityContext.runAsUser, 10001, 'the Dockerfile user');
  const fromSecret = Object.fromEntries(
    c.env
      .filter((e: Req<IEnvVar>) => e.valueFrom?.secretKeyRef)
      .map((e: Req<IEnvVar>) => [e.name, e.valueFrom.secretKeyRef.key]),
  );
  assert.deepEqual(fromSecret, {
    DATABASE_URL: 'database-url',
    VIDMESH_API_KEY: 'api-key',
    VIDMESH_SECRET_KEY: 'secret-key',
    VIDMESH_METRICS_TOKEN: 'metrics-token',
  });

  const pdb = one<IPodDisruptionBudget>(ms, 'PodDisruptionBudget');
  assert.deepEqual(pdb.spec.selector.matchLabels, coord.spec.selector.matchLabels);
  const minAvailable = Number(pdb.spec.minAvailable);
  assert.ok(minAvailable >= 1 && minAvailable < coord.spec.replicas);
  const svc = one<IService>(ms, 'Service');
  assert.deepEqual(svc.spec.selector, coord.spec.template.metadata.labels);

  const secret = one<ISecret>(ms, 'Secret');
  const data = Object.fromEntries(
    Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()]),
  );
  assert.deepEqual(data, {
    'database-url': SECRETS.databaseUrl,
    'api-key': SECRETS.apiKey,
    'secret-key': SECRETS.secretKey,
    'encoder-api-key': SECRETS.apiKey,
    'metrics-token': SECRETS.apiKey,
  });

  assert.match(
    secret.metadata.annotations['helm.sh/hook'],
    /pre-install/,
    'exists before the migration hook',
  );

  const job = one<IJob>(ms, 'Job');
  assert.equal(job.metadata.annotations['helm.sh/hook'], 'pre-install,pre-upgrade', 'once per release');
  assert.ok(
    Number(job.metadata.annotations['helm.sh/hook-weight']) >
      Number(secret.metadata.annotations['helm.sh/hook-weight']),
  );
  assert.deepEqual(job.spec.template.spec.containers[0].args, ['migrate']);

  const enc = one<IDeployment>(ms, 'Deployment', 'prod-vidmesh-encoder');
  const e = enc.spec.template.spec.containers[0];
  const encEnv = Object.fromEntries(
    e.env.filter((x: Req<IEnvVar>) => 'value' in x).map((x: Req<IEnvVar>) => [x.name, x.value]),
  );
  assert.equal(encEnv.VIDMESH_COORDINATORS, `http://${svc.metadata.name}:${svc.spec.ports[0].port}`);
  assert.ok(!e.env.some((x: Req<IEnvVar>) => x.name === 'DATABASE_URL'), 'encoders use the agent API');
  assert.ok(enc.spec.template.spec.terminationGracePeriodSeconds > 120, 'room for --grace-s');
  assert.equal(all(ms, 'HorizontalPodAutoscaler').length, 0, 'HPA off by default');

  const sm = one<IServiceMonitor>(ms, 'ServiceMonitor');
  assert.deepEqual(sm.spec.selector.matchLabels, svc.metadata.labels && coord.spec.selector.matchLabels);
  assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
  // /metrics is never public: the ServiceMonitor sends the Secret's metrics token.
  assert.equal(sm.spec.endpoints[0].authorization?.credentials?.key, 'metrics-token');
  assert.equal(one<IPodMonitor>(ms, 'PodMonitor').spec.podMetricsEndpoints[0].port, e.ports[0].name);
});

test('Helm chart, GPU encoders with HPA on queue depth, an existing Secret, no ServiceMonitor', () => {
  const ms = render({
    secrets: { existingSecret: 'vidmesh-prod' },
    env: { VIDMESH_MAX_ATTEMPTS: '5' },
    serviceMonitor: { enabled: false },
    coordinator: { replicas: 3, publicUrl: 'https://video.example.com' },
    encoder: {
      hwaccel: 'nvenc',
      resources: { limits: { 'nvidia.com/gpu': 1 } },
      nodeSelector: { 'nvidia.com/gpu.present': 'true' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 20 },
    },
  });
  assert.equal(all(ms, 'Secret').length, 0);
  assert.equal(all(ms, 'ServiceMonitor').length + all(ms, 'PodMonitor').length, 0);
  const enc = one<IDeployment>(ms, 'Deployment', 'prod-vidmesh-encoder');
  const pod = enc.spec.template.spec;
  assert.equal(pod.containers[0].resources.limits['nvidia.com/gpu'], 1);
  assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  assert.equal(pod.tolerations[0].key, 'nvidia.com/gpu');
  assert.equal(enc.spec.replicas, undefined, 'the HPA owns the replica count');
  assert.ok(
    pod.containers[0].env.some((x: Req<IEnvVar>) => x.name === 'VIDMESH_HWACCEL' && x.value === 'nvenc'),
  );
  for (const x of pod.containers[0].env.filter((x: Req<IEnvVar>) => x.valueFrom))
    assert.equal(x.valueFrom.secretKeyRef.name, 'vidmesh-prod');
  const hpa = one<IHorizontalPodAutoscaler>(ms, 'HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.name, 'prod-vidmesh-encoder');
  assert.equal(hpa.spec.metrics[0].external.metric.name, 'vidmesh_queue_depth');
  assert.equal(hpa.spec.minReplicas, 2);
  const cm = one<IConfigMap>(ms, 'ConfigMap');
  assert.equal(cm.data.VIDMESH_MAX_ATTEMPTS, '5');
  for (const k of Object.keys(cm.data)) assert.ok(KNOWN_VARIABLES.has(k), k);
  const coord = one<IDeployment>(ms, 'Deployment', 'prod-vidmesh-coordinator');
  assert.equal(coord.spec.replicas, 3);
  assert.ok(
    coord.spec.template.spec.containers[0].env.some(
      (x: Req<IEnvVar>) => x.name === 'VIDMESH_PUBLIC_URL' && x.value === 'https://video.example.com',
    ),
  );
});

test('Helm chart: a missing required secret fails the render with its name', () => {
  assert.throws(
    () => renderChart(chartDir, { values: { secrets: { ...SECRETS, databaseUrl: '' } } }),
    /secrets\.databaseUrl is required/,
  );
});

test('systemd units pass systemd-analyze verify and run vidmesh as a non-root user', async (t) => {
  const dir = join(deploy, 'systemd');
  const units = (await readdir(dir)).filter((f) => f.endsWith('.service'));
  assert.deepEqual(units.sort(), ['vidmesh-coordinator.service', 'vidmesh-encoder.service']);
  for (const u of units) {
    const text = readFileSync(join(dir, u), 'utf8');
    const kv = (k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1] as string);
    assert.equal(kv('User')[0], 'vidmesh');
    for (const exec of [...kv('ExecStart'), ...kv('ExecStartPre')]) {
      const [bin, cmd] = exec.split(/\s+/);
      assert.equal(bin, '/usr/local/bin/vidmesh', 'the link scripts/link-bin.sh makes as root');
      assert.ok(commands.has(cmd as string), `${u}: vidmesh ${cmd} exists`);
    }
    for (const e of kv('Environment'))
      assert.ok(KNOWN_VARIABLES.has(e.split('=')[0] as string), `${u}: ${e}`);
  }
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
    t.diagnostic('systemd-analyze not installed: verify skipped');
    return;
  }
  // verify needs the ExecStart binary to exist: point the units at this checkout's CLI.
  const tmp = await mkdtemp(join(tmpdir(), 'vidmesh-units-'));
  try {
    const args: string[] = [];
    for (const u of units) {
      const text = (await readFile(join(dir, u), 'utf8')).replaceAll('/usr/local/bin/vidmesh', mainJs);
      await writeFile(join(tmp, u), text);
      args.push(join(tmp, u));
    }
    execFileSync('chmod', ['+x', mainJs]);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings (unknown keys, bad values)');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('docs/deploy.md: the Compose job example is a valid job spec publishing to the Compose MinIO', async () => {
  const doc = await readFile(join(root, 'docs', 'deploy.md'), 'utf8');
  const block = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'a json example');
  const spec = jobSpecSchema.parse(JSON.parse(block));
  assert.equal(spec.destination?.type, 's3');
  const compose = await readFile(join(deploy, 'compose.yaml'), 'utf8');
  assert.match(compose, /mc mb --ignore-existing local\/vidmesh/, 'the bucket the example names exists');
});
