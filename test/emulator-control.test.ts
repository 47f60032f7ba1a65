import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, type Body } from './support/emulator.js';

/**
 * The WeChat emulator (src/emulator), its control API for tests: faults, latency, the request log,
 * batches of codes and call counts.
 */

const clock = Date.parse('2026-11-21T00:00:00Z');
let emulator: Emulator;
const { get, post, code, jscode } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

describe('faults, latency and the request log', () => {
  it('applies an errcode fault to exactly N calls of its path', async () => {
    await post('/__emulator/faults', { path: '/sns/jscode2session', times: 2, errcode: -1 });
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).errcode).toBe(-1);
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).errcode).toBe(-1);
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).openid).toEqual(expect.any(String));
  });

  it('answers a status fault with that HTTP status, malformed with a non-JSON body, drop with a closed connection', async () => {
    const url = `${emulator.url}/sns/jscode2session?appid=wxmini&secret=mini-secret&js_code=x&grant_type=authorization_code`;
    await post('/__emulator/faults', { path: '/sns/jscode2session', status: 502 });
    expect((await fetch(url)).status).toBe(502);
    await post('/__emulator/faults', { path: '/sns/jscode2session', malformed: true });
    const malformed = await fetch(url);
    expect(malformed.status).toBe(200);
    await expect(malformed.text().then((t) => JSON.parse(t))).rejects.toThrow();
    await post('/__emulator/faults', { path: '/sns/jscode2session', drop: true });
    await expect(fetch(url)).rejects.toThrow();
    expect(
      (
        await get('/sns/jscode2session', {
          appid: 'wxmini',
          secret: 'mini-secret',
          js_code: 'x',
          grant_type: 'authorization_code',
        })
      ).errcode,
    ).toBe(40029);
  });

  it('delays one call by delayMs and all calls by the latency', async () => {
    await post('/__emulator/faults', { path: '/sns/auth', delayMs: 300 });
    let started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeLessThan(290);
    await post('/__emulator/latency', { ms: 200 });
    started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('logs path, appid and outcome, never secrets or codes', async () => {
    const c = await code('wxmini', 'alice');
    await jscode('wxmini', c);
    await jscode('wxmini', c);
    const { requests } = (await (await fetch(`${emulator.url}/__emulator/requests`)).json()) as {
      requests: Body[];
    };
    expect(requests.map((r) => [r.path, r.appid, r.outcome])).toEqual([
      ['/sns/jscode2session', 'wxmini', 'ok'],
      ['/sns/jscode2session', 'wxmini', 'errcode:40163'],
    ]);
    expect(JSON.stringify(requests)).not.toContain(c);
    expect(JSON.stringify(requests)).not.toContain('mini-secret');
  });

  it('mints codes in batches and counts calls per path and TCP connections', async () => {
    const before = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as {
      calls: Record<string, number>;
    };
    const { codes } = (await post('/__emulator/codes/batch', {
      appid: 'wxmini',
      users: ['b1', 'b2', 'b1'],
    })) as { codes: string[] };
    expect(codes).toHaveLength(3);
    const sessions = await Promise.all(codes.map((c) => jscode('wxmini', c)));
    expect(sessions[0]!.openid).toBe(sessions[2]!.openid);
    expect(sessions[1]!.openid).not.toBe(sessions[0]!.openid);
    const after = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as {
      calls: Record<string, number>;
      connections: number;
    };
    expect(after.calls['/sns/jscode2session']! - (before.calls['/sns/jscode2session'] ?? 0)).toBe(3);
    expect(after.connections).toBeGreaterThan(0);
  });

  it('rejects a malformed control request with 400 and a reason', async () => {
    const response = await fetch(`${emulator.url}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/sns/auth', times: 1 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Body).error).toMatch(
      /errcode, status, delayMs, drop, reset or malformed/,
    );
  });
});
