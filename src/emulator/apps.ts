import { z } from 'zod';
import { APP_KINDS, type AppKind } from '../config.js';

/** An absolute http(s) URL, or null. */
export function httpUrl(value: string | undefined): URL | null {
  if (!value || !URL.canParse(value)) return null;
  const url = new URL(value);
  return /^https?:$/.test(url.protocol) ? url : null;
}

/** The emulator plays the same kinds of app the server logs in with. */
export type EmulatorAppKind = AppKind;

export interface EmulatorApp {
  readonly appid: string;
  readonly secret: string;
  readonly kind: EmulatorAppKind;
  /** Bound to an Open Platform account: it sees unionIds. */
  readonly bound: boolean;
  /**
   * An official account's server configuration (服务器配置): the Token its event pushes are signed
   * with (none: WeChat pushes nothing), the EncodingAESKey that turns on safe mode, and the URL
   * pushed to (default: the login server's /wechat/events/<appid>).
   */
  readonly token?: string;
  readonly aesKey?: string;
  readonly eventUrl?: string;
}

/** WeChat's rules for the server configuration: a Token of 3-32 letters or digits, a 43-character key. */
const PUSH_TOKEN = /^[A-Za-z0-9]{3,32}$/;
const AES_KEY = /^[A-Za-z0-9]{43}$/;

/** The demo official account's Token, which `npm start` gives the server too, so follow-login works out of the box. */
export const DEMO_OA_TOKEN = 'demoOfficialToken';

/** The shape of EMULATOR_APPS (docs/emulator.md). */
export const EmulatorAppsSchema = z
  .array(
    z
      .object({
        appid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'appid: letters, digits, _ or -, at most 64'),
        secret: z.string().min(1, 'secret must not be empty'),
        kind: z.enum(APP_KINDS),
        bound: z.boolean().default(false),
        token: z.string().regex(PUSH_TOKEN, 'must be 3-32 letters or digits').optional(),
        aesKey: z.string().regex(AES_KEY, 'must be 43 letters or digits (an EncodingAESKey)').optional(),
        eventUrl: z
          .string()
          .refine((url) => httpUrl(url) !== null, 'must be an http(s) URL')
          .optional(),
      })
      .superRefine((app, ctx) => {
        const push = (['token', 'aesKey', 'eventUrl'] as const).find((field) => app[field] !== undefined);
        if (push && app.kind !== 'official') {
          ctx.addIssue({
            code: 'custom',
            path: [push],
            message: `for official accounts only (this app is kind ${app.kind})`,
          });
        } else if (app.aesKey !== undefined && app.token === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['aesKey'],
            message: 'needs a token too (safe mode signs with it)',
          });
        }
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
  {
    appid: 'wxdemoofficial00001',
    secret: 'demo-official-secret',
    kind: 'official',
    bound: true,
    token: DEMO_OA_TOKEN,
  },
]);

/** Emulated people that `npm start` creates so the QR page has someone to pick. */
export const DEMO_USERS = Object.freeze([
  { key: 'alice', nickname: 'Alice' },
  { key: 'bob', nickname: 'Bob' },
]);
