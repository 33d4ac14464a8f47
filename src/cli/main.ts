#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../paths.js';
import { addGlobalOptions, runCli } from './run.js';

// Each command lives in its own module and registers itself on the program; keep this list sorted.
const commandModules: Array<() => Promise<{ register(program: Command): void }>> = [
  () => import('./agent.js'),
  () => import('./client/encoders.js'),
  () => import('./client/ipfs.js'),
  () => import('./client/jobs.js'),
  () => import('./client/login.js'),
  () => import('./client/presets.js'),
  () => import('./client/submit.js'),
  () => import('./client/wallet.js'),
  () => import('./config.js'),
  () => import('./encode.js'),
  () => import('./encoder.js'),
  () => import('./keys.js'),
  () => import('./migrate.js'),
  () => import('./quickstart.js'),
  () => import('./retention.js'),
  () => import('./serve.js'),
  () => import('./webhooks.js'),
];

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

const program = new Command()
  .name('vidmesh')
  .description('Distributed video encoding network: coordinator, encoder nodes and a one-shot HLS encoder')
  .version(pkg.version);
addGlobalOptions(program);

for (const load of commandModules) (await load()).register(program);

await runCli(program, process.argv);
