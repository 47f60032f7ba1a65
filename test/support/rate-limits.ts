import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './process.js';

/** A Redis for the tests, and how to let it go. */
export interface TestRedis {
  url: string;
  client: Redis;
  stop(): Promise<void>;
}

async function answers(url: string): Promise<Redis | null> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return null;
  }
}

/**
 * TEST_REDIS_URL, else the Redis on 127.0.0.1:6379 (database 9, emptied first), else a
 * `redis-server` of the test's own on a free port (no disk writes). Without any of them the test
 * fails saying what to install: Redis is what REDIS_URL's tests are about.
 */
export async function startTestRedis(): Promise<TestRedis> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
  const running = await answers(url);
  if (running) {
    await running.flushdb();
    return { url, client: running, stop: async () => void (await running.quit()) };
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('These tests need Redis: install redis-server, or set TEST_REDIS_URL');
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const own = `redis://127.0.0.1:${port}/0`;
  for (let i = 0; i < 50; i++) {
    const client = await answers(own);
    if (client) {
      return {
        url: own,
        client,
        stop: async () => {
          await client.quit();
          child.kill('SIGTERM');
        },
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer within 5 s');
}
