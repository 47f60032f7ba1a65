import { z } from 'zod';
import { APP_KINDS, type AppKind } from '../config.js';

/** The emulator plays the same kinds of app the server logs in with. */
export type EmulatorAppKind = AppKind;

export interface EmulatorApp {
  readonly appid: string;
  readonly secret: string;
  readonly kind: EmulatorAppKind;
  /** Bound to an Open Platform account: it sees unionIds. */
  readonly bound: boolean;
}

/** The shape of EMULATOR_APPS (docs/emulator.md). */
export const EmulatorAppsSchema = z
  .array(
    z.object({
      appid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'appid: letters, digits, _ or -, at most 64'),
      secret: z.string().min(1, 'secret must not be empty'),
      kind: z.enum(APP_KINDS),
      bound: z.boolean().default(false),
    }),
  )
  .min(1, 'at least one app')
  .refine((apps) => new Set(apps.map((a) => a.appid)).size === apps.length, 'appids must be unique');

/** Parses EMULATOR_APPS; throws an Error with one line on a bad value. */
export function parseEmulatorApps(json: string): EmulatorApp[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('EMULATOR_APPS: not valid JSON');
  }
  const parsed = EmulatorAppsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(
      `EMULATOR_APPS: ${issue.path.length ? `[${issue.path.join('].')}: ` : ''}${issue.message}`,
    );
  }
  return parsed.data;
}

/**
 * The demo apps of `npm start` and `npm run emulator` when none are configured: one of each kind,
 * all bound to one Open Platform account so a person is one user across them.
 */
export const DEMO_APPS: readonly EmulatorApp[] = Object.freeze([
  { appid: 'wxdemoweb0000000001', secret: 'demo-web-secret', kind: 'web', bound: true },
  { appid: 'wxdemoapp0000000001', secret: 'demo-app-secret', kind: 'app', bound: true },
  { appid: 'wxdemomini000000001', secret: 'demo-mini-secret', kind: 'mini', bound: true },
  { appid: 'wxdemoofficial00001', secret: 'demo-official-secret', kind: 'official', bound: true },
]);

/** Emulated people that `npm start` creates so the QR page has someone to pick. */
export const DEMO_USERS = Object.freeze([
  { key: 'alice', nickname: 'Alice' },
  { key: 'bob', nickname: 'Bob' },
]);
