import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { EnvSchema, loadConfig } from '../src/config.js';

describe('.env.example', () => {
  /** `# NAME=value   # comment` lines: the variables it names and the values it shows. */
  const example = new Map(
    [...readFileSync('.env.example', 'utf8').matchAll(/^# ([A-Z][A-Z0-9_]*)=(\S*)/gm)].map((m) => [
      m[1]!,
      m[2]!,
    ]),
  );
  /** Read by `npm run emulator` alone, not by the server. */
  const EMULATOR_ONLY = ['EMULATOR_APPS'];

  it('names every variable the server reads, and no other', () => {
    expect([...example.keys()].sort()).toEqual([...Object.keys(EnvSchema.shape), ...EMULATOR_ONLY].sort());
  });

  it('shows the defaults: its values make the same config as an empty environment', () => {
    const env = Object.fromEntries([...example].filter(([name]) => !EMULATOR_ONLY.includes(name)));
    const { authSecret: _a, ...fromExample } = loadConfig(env);
    const { authSecret: _b, ...fromNothing } = loadConfig({});
    expect(fromExample).toEqual(fromNothing);
  });
});
