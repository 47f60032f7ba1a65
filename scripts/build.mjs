#!/usr/bin/env node
/**
 * The build, doing only what changed. `npm run build` runs it with --force (everything), `npm start`
 * with --check-config (the environment first, then what is stale), `npm run dev` with
 * --check-config --web (the example page's script: the server itself runs from source there).
 *
 * Steps, each skipped when a SHA-256 of its inputs matches the one it recorded beside its output
 * (`.build-hash`) and that output exists:
 *   codegen  schema.graphql + examples/graphql/*.graphql → examples/web/src/gql/
 *   server   src/, mikro-orm.config.ts → dist/ (tsc -p tsconfig.build.json, incremental)
 *   web      examples/web/src/ → examples/web/dist/ (tsc -p examples/web/tsconfig.json)
 * Plain JavaScript on purpose: it runs before anything is compiled.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const force = args.has('--force');
const webOnly = args.has('--web');

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** Every file under these paths (directories recursively), sorted, for a stable hash. */
function files(paths) {
  const out = [];
  const walk = (rel) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name !== '.build-hash') out.push(child);
    }
  };
  for (const rel of paths) {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) continue;
    if (statSync(abs).isDirectory()) walk(rel);
    else out.push(rel);
  }
  return out.sort();
}

function hashOf(paths) {
  const hash = createHash('sha256');
  for (const rel of files(paths)) {
    hash.update(`${rel}\0`);
    hash.update(readFileSync(path.join(root, rel)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function run(label, command, commandArgs) {
  const result = spawnSync(process.execPath, [path.join(root, command), ...commandArgs], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.error) fail(`build: ${label}: ${result.error.message}`);
  if (result.status !== 0) fail(`build: ${label} failed (exit code ${result.status})`);
}

const COMMON = ['package-lock.json', 'scripts/build.mjs'];
const steps = [
  {
    name: 'codegen',
    inputs: ['schema.graphql', 'examples/graphql', 'codegen.ts', ...COMMON],
    output: 'examples/web/src/gql',
    produces: 'examples/web/src/gql/index.ts',
    build: () =>
      run('codegen', 'node_modules/@graphql-codegen/cli/cjs/bin.js', ['--config', 'codegen.ts', '--silent']),
  },
  {
    name: 'server',
    skip: webOnly,
    inputs: ['src', 'mikro-orm.config.ts', 'tsconfig.json', 'tsconfig.build.json', ...COMMON],
    output: 'dist',
    produces: 'dist/src/main.js',
    buildInfo: 'dist/tsconfig.build.tsbuildinfo',
    build: () => run('server', 'node_modules/typescript/bin/tsc', ['-p', 'tsconfig.build.json']),
  },
  {
    name: 'web',
    inputs: ['examples/web/src', 'examples/web/tsconfig.json', ...COMMON],
    output: 'examples/web/dist',
    produces: 'examples/web/dist/main.js',
    build: () => run('web', 'node_modules/typescript/bin/tsc', ['-p', 'examples/web/tsconfig.json']),
  },
];

/**
 * The environment, checked before any build so a bad setting costs a second, not a compile:
 * src/config.ts and src/config/ (plain TypeScript on node and zod) transpiled by swc into
 * node_modules/.cache.
 * Skipped where swc is not installed (`npm ci --omit=dev`): the server checks it again anyway.
 */
async function checkConfig() {
  let swc;
  try {
    swc = await import('@swc/core');
  } catch {
    return;
  }
  // Per process: two starts at once must not read each other's half-written files.
  const dir = path.join(root, `node_modules/.cache/wechat-login-server/config-${process.pid}`);
  const sources = ['config.ts', ...readdirSync(path.join(root, 'src/config')).map((f) => `config/${f}`)];
  let loaded;
  try {
    mkdirSync(path.join(dir, 'config'), { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    for (const source of sources.filter((f) => f.endsWith('.ts'))) {
      const { code } = swc.transformFileSync(path.join(root, 'src', source), {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
        sourceMaps: false,
        swcrc: false,
      });
      writeFileSync(path.join(dir, source.replace(/\.ts$/, '.js')), code);
    }
    loaded = await import(pathToFileURL(path.join(dir, 'config.js')).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { loadConfig, ConfigError } = loaded;
  try {
    loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.report);
    throw error;
  }
}

if (args.has('--check-config')) await checkConfig();

const done = [];
const started = performance.now();
for (const step of steps) {
  if (step.skip) continue;
  const hash = hashOf(step.inputs);
  const stamp = path.join(root, step.output, '.build-hash');
  const fresh =
    !force &&
    existsSync(path.join(root, step.produces)) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8') === hash;
  if (fresh) continue;
  const t = performance.now();
  // tsc's incremental record would skip files whose output someone deleted: drop it when the output
  // is missing or everything is forced.
  if (step.buildInfo && (force || !existsSync(path.join(root, step.produces)))) {
    rmSync(path.join(root, step.buildInfo), { force: true });
  }
  step.build();
  if (!existsSync(path.join(root, step.produces))) fail(`build: ${step.name} did not write ${step.produces}`);
  mkdirSync(path.dirname(stamp), { recursive: true });
  // The hash of the inputs as they were before the step: a step writing an input (codegen writes
  // what web reads) makes the next step, not this one, stale.
  writeFileSync(stamp, hash);
  done.push(`${step.name} ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const total = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(done.length ? `build: ${done.join(', ')}\n` : `build: up to date (${total} s)\n`);
