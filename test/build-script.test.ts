import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

/** What a fresh clone holds that the build reads; node_modules shared by a link. */
const COPIED = [
  'src',
  'scripts',
  'examples/graphql',
  'examples/web/index.html',
  'examples/web/tsconfig.json',
  'examples/web/src/main.ts',
  'examples/web/src/graphql-ws.ts',
  'schema.graphql',
  'codegen.ts',
  'mikro-orm.config.ts',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
];

describe('scripts/build.mjs (npm start, npm run dev, npm run build)', () => {
  let clone: string;
  beforeAll(async () => {
    clone = await mkdtemp(path.join(os.tmpdir(), 'wls-build-'));
    for (const entry of COPIED) await cp(entry, path.join(clone, entry), { recursive: true });
    await symlink(path.resolve('node_modules'), path.join(clone, 'node_modules'), 'dir');
  });
  afterAll(async () => {
    await rm(clone, { recursive: true, force: true });
  });

  const build = (args: string[], env: Record<string, string> = {}) => {
    const { PORT: _port, NODE_ENV: _env, ...inherited } = process.env;
    const result = spawnSync(process.execPath, ['scripts/build.mjs', ...args], {
      cwd: clone,
      env: { ...inherited, NODE_OPTIONS: '', ...env },
      encoding: 'utf8',
      timeout: 180_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const built = (file: string) => existsSync(path.join(clone, file));

  it('reports a configuration error before building anything', () => {
    const result = build(['--check-config'], { PORT: 'abc' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Configuration error: PORT: must be a port number (0-65535) (got "abc")',
    );
    expect(result.stdout).toBe('');
    expect(built('dist')).toBe(false);
    expect(built('examples/web/src/gql')).toBe(false);
  });

  it('npm run dev on a never-built clone: builds the example page script it serves, not the server', () => {
    const result = build(['--check-config', '--web']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^build: codegen \d+\.\d s, web \d+\.\d s\n$/);
    expect(built('examples/web/dist/main.js')).toBe(true);
    expect(built('dist/src/main.js')).toBe(false);
  }, 120_000);

  it('npm start builds what is stale, then nothing on an unchanged tree, then only what a change touches', async () => {
    const first = build(['--check-config']);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^build: server \d+\.\d s\n$/);
    expect(built('dist/src/main.js')).toBe(true);

    const again = build(['--check-config']);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^build: up to date \(\d+\.\d s\)\n$/);

    await appendFile(path.join(clone, 'examples/web/src/main.ts'), '\n// changed\n');
    expect(build([]).stdout).toMatch(/^build: web \d+\.\d s\n$/);
    // Only what codegen writes decides whether the page is rebuilt.
    await appendFile(path.join(clone, 'schema.graphql'), '\n');
    expect(build([]).stdout).toMatch(/^build: codegen \d+\.\d s\n$/);
    await appendFile(
      path.join(clone, 'examples/graphql/operations.graphql'),
      '\nquery Extra {\n  me {\n    id\n  }\n}\n',
    );
    expect(build([]).stdout).toMatch(/^build: codegen \d+\.\d s, web \d+\.\d s\n$/);

    // Part of the output deleted (tsc's incremental record kept): rebuilt, not trusted.
    await rm(path.join(clone, 'dist/src'), { recursive: true });
    expect(build([]).stdout).toMatch(/^build: server \d+\.\d s\n$/);
    expect(built('dist/src/main.js')).toBe(true);
    expect(built('dist/src/config.js')).toBe(true);

    // A deleted output is rebuilt even though its inputs did not change.
    await rm(path.join(clone, 'dist'), { recursive: true });
    expect(build([]).stdout).toMatch(/^build: server \d+\.\d s\n$/);
    expect(built('dist/src/main.js')).toBe(true);

    expect(build(['--force']).stdout).toMatch(
      /^build: codegen \d+\.\d s, server \d+\.\d s, web \d+\.\d s\n$/,
    );
  }, 300_000);
});
