import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, spawnServer, type ServerProcess } from '../../test/support/process.js';

export interface NpmStartServer {
  server: ServerProcess;
  /** The built-in emulator's URL (its port picked here, so tests know it before the start). */
  emulatorUrl: string;
  stop(): Promise<void>;
}

/** Builds the example page (its typed documents, then its script) as `npm start` does. */
export function buildExamplePage(): void {
  execSync('npx graphql-codegen --config codegen.ts --silent && npx tsc -p examples/web/tsconfig.json', {
    stdio: 'pipe',
  });
}

/**
 * The server as `npm start` runs it for a newcomer: embedded database in a temporary directory,
 * the built-in WeChat emulator with its demo apps and people. `buildExample`: build the example page
 * first, as `npm start` does.
 */
export async function startAsNpmStart(
  env: Record<string, string> = {},
  options: {
    buildExample?: boolean;
    /** The server's port (one is picked when omitted). */ port?: number;
  } = {},
): Promise<NpmStartServer> {
  if (options.buildExample) buildExamplePage();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'wechat-browser-'));
  const emulatorPort = await freePort();
  let server: ServerProcess;
  try {
    server = await spawnServer(
      { EMBEDDED_DB_DIR: dataDir, EMULATOR_PORT: String(emulatorPort), LOG_LEVEL: 'warn', ...env },
      options.port ?? (await freePort()),
    );
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    server,
    emulatorUrl: `http://127.0.0.1:${emulatorPort}`,
    async stop() {
      server.child.kill('SIGTERM');
      await server.exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
