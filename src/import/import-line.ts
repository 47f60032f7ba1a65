import { z } from 'zod';
import type { AppKind, Config } from '../config.js';
import { DEMO_APPS } from '../emulator/apps.js';
import { AppError } from '../errors.js';
import { checkNickname } from '../identity/profile.service.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';

/** One user of an import file, checked (docs/import.md, "The file"). */
export interface ImportedUser {
  /** The line of the file it came from, for the report. */
  line: number;
  externalId: string;
  nickname: string | null;
  phoneNumber: string | null;
  unionId: string | null;
  identities: { kind: LoginMethodKind; appId: string; openId: string }[];
}

/** A line checked: its user, or why it is refused (never a value of the line). */
export type CheckedLine = { ok: true; user: ImportedUser } | { ok: false; reason: string };

/** The kind of login method each kind of configured app gives. */
const METHOD_KIND: Record<AppKind, LoginMethodKind> = {
  web: LoginMethodKind.WECHAT_WEB,
  app: LoginMethodKind.WECHAT_APP,
  mini: LoginMethodKind.WECHAT_MINI,
  official: LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT,
};

/**
 * The login method kind of each configured app, by appId: an identity's kind comes from its app.
 * With the emulator (development), also the demo apps it plays for the kinds not configured, as
 * `npm start` does (src/emulator/attach.ts).
 */
export function methodKinds(config: Config): ReadonlyMap<string, LoginMethodKind> {
  const apps = config.wechat.apps.map(({ appId, kind }) => ({ appId, kind }));
  if (config.emulator.enabled) {
    const demos = DEMO_APPS.filter((demo) => !apps.some((app) => app.kind === demo.kind));
    apps.push(...demos.map(({ appid, kind }) => ({ appId: appid, kind })));
  }
  return new Map(apps.map(({ appId, kind }) => [appId, METHOD_KIND[kind]]));
}

/**
 * E.164 as logins store WeChat's numbers (src/wechat/phone-number.client.ts): `+`, a country code
 * without a leading 0, at most 15 digits in all. A number matches a login's only when it is exactly this.
 */
const E164 = /^\+[1-9]\d{4,14}$/;

/** An id of WeChat's or of the earlier system: a string with something in it, of a sane length. */
const id = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);

const LineSchema = z.strictObject(
  {
    externalId: id(256),
    nickname: z
      .string({ error: 'must be a string' })
      .transform((given, ctx) => {
        try {
          return checkNickname(given);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          ctx.addIssue({ code: 'custom', message: error.message.replace(/^nickname /, '') });
          return z.NEVER;
        }
      })
      .nullish(),
    phoneNumber: z
      .string({ error: 'must be a string' })
      .regex(E164, 'is not E.164 (+, country code and number, digits only: +8613800138000)')
      .nullish(),
    unionId: id(128).nullish(),
    identities: z
      .array(z.strictObject({ appId: id(64), openId: id(128) }), { error: 'must be an array' })
      .max(16, 'must have at most 16 entries')
      .default([]),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object' : undefined) },
);

/** A zod issue as a line's report says it: `identities[0].appId must not be empty`. */
function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`))
    .join('');
  return path ? `${path} ${issue.message}` : issue.message;
}

/**
 * One line of an import file, checked: JSON, the fields' rules, each identity's app one configured
 * here (its kind is that app's), one identity per app.
 */
export function checkLine(
  text: string,
  line: number,
  kinds: ReadonlyMap<string, LoginMethodKind>,
): CheckedLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message quotes the line: never shown.
    return { ok: false, reason: 'is not JSON' };
  }
  const parsed = LineSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: describe(parsed.error.issues[0]!) };
  const { externalId, nickname, phoneNumber, unionId, identities } = parsed.data;
  const apps = new Set<string>();
  const checked: ImportedUser['identities'] = [];
  for (const [i, { appId, openId }] of identities.entries()) {
    const kind = kinds.get(appId);
    if (!kind)
      return {
        ok: false,
        reason: `identities[${i}].appId ${JSON.stringify(appId)} is no WeChat app configured here`,
      };
    if (apps.has(appId)) return { ok: false, reason: `identities[${i}] is a second identity of its app` };
    apps.add(appId);
    checked.push({ kind, appId, openId });
  }
  return {
    ok: true,
    user: {
      line,
      externalId,
      nickname: nickname ?? null,
      phoneNumber: phoneNumber ?? null,
      unionId: unionId ?? null,
      identities: checked,
    },
  };
}
