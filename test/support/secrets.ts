import { expect } from '@jest/globals';
import { AUTH_SECRET, type World } from './world.js';

/**
 * Neither a secret the world's emulator issued (session keys, app secrets, WeChat tokens) nor
 * AUTH_SECRET is in the server's log or in any of these response bodies.
 */
export function expectNoSecretsIn(w: World, responses: string[]): void {
  const log = w.t.log.text();
  for (const secret of [...w.emulator.issuedSecrets(), AUTH_SECRET]) {
    expect(log).not.toContain(secret);
    for (const body of responses) expect(body).not.toContain(secret);
  }
}
