import { LockMode } from '@mikro-orm/core';
import { AuditLog, type AuditSource } from '../audit/audit-log.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BadUserInputError, UnauthenticatedError } from '../errors.js';
import { ANONYMOUS_NICKNAME } from '../wechat/endpoints.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { User } from './user.entity.js';

/** What a person may set about themselves; null or absent leaves a field as it is. */
export interface ProfileInput {
  nickname?: string | null;
  avatarUrl?: string | null;
}

export interface ProfileRules {
  /**
   * Development: also `http://127.0.0.1` and `http://localhost` avatars (the emulator's, a local
   * upload server). Never in production, where a page over https would not load them anyway.
   */
  allowLoopbackHttpAvatars: boolean;
}

/** Limits of updateProfile (docs/api.md, "Profile"). */
export const PROFILE_LIMITS = {
  /** Unicode code points, not UTF-16 units: an emoji is one. */
  nicknameMax: 64,
  avatarUrlMax: 2048,
};

/**
 * Never in a nickname: control characters (Cc: NUL, newlines, escapes), lone surrogates (Cs, not
 * text), line and paragraph separators, and the bidi embeddings, overrides and isolates that can
 * make a name read as another one. Joiners (emoji sequences) and bidi marks stay allowed.
 */
const FORBIDDEN_IN_NICKNAME = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u;

/** What shows nothing: spaces, format characters (zero-width ones) and the Hangul fillers. */
const INVISIBLE = /[\p{Z}\p{Cf}\u115F\u1160\u3164\uFFA0]/gu;

/**
 * The person's own nickname and avatar, as a mini program asks for them today (the `chooseAvatar`
 * button, the `nickname` input), since WeChat's profile APIs answer "微信用户" and a grey avatar.
 */
export class ProfileService {
  constructor(
    private readonly rules: ProfileRules,
    private readonly outbox: WebhookOutbox,
  ) {}

  /**
   * Checks everything first, then stores it in one transaction with its `user.updated` event
   * (the fields given, with their new values: a profile is what other apps show); the updated user.
   */
  async update(em: EntityManager, userId: string, input: ProfileInput, source: AuditSource): Promise<User> {
    const nickname = input.nickname == null ? undefined : checkNickname(input.nickname);
    const avatarUrl =
      input.avatarUrl == null
        ? undefined
        : checkAvatarUrl(input.avatarUrl, this.rules.allowLoopbackHttpAvatars);
    if (nickname === undefined && avatarUrl === undefined) {
      throw new BadUserInputError('Give a nickname, an avatarUrl or both', 'input');
    }
    return em.fork({ clear: true }).transactional(async (tx) => {
      const user = await tx.findOne(
        User,
        { id: userId, deletedAt: null },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (!user) throw new UnauthenticatedError('The user of this session no longer exists');
      if (nickname !== undefined) user.nickname = nickname;
      if (avatarUrl !== undefined) user.avatarUrl = avatarUrl;
      user.profileChosenAt = new Date();
      const changed = {
        ...(nickname !== undefined && { nickname }),
        ...(avatarUrl !== undefined && { avatarUrl }),
      };
      this.outbox.emit(tx, 'user.updated', { userId: user.id, changed: Object.keys(changed), ...changed });
      // The names of the fields, never their values.
      const fields = Object.keys(changed);
      AuditLog.record(tx, source, { type: 'profile.updated', userId: user.id, details: { fields } });
      return user;
    });
  }
}

/**
 * The nickname to store: trimmed, 1-64 code points, nothing invisible or forbidden, not WeChat's
 * placeholder (updateProfile, and `npm run import`'s nicknames).
 */
export function checkNickname(given: string): string {
  const nickname = given.trim();
  if (FORBIDDEN_IN_NICKNAME.test(nickname)) {
    throw new BadUserInputError(
      'nickname must not contain control characters, line separators, bidi overrides or broken Unicode',
      'nickname',
    );
  }
  if (nickname.replace(INVISIBLE, '') === '') {
    throw new BadUserInputError('nickname must have at least one visible character', 'nickname');
  }
  if ([...nickname].length > PROFILE_LIMITS.nicknameMax) {
    throw new BadUserInputError(
      `nickname must be at most ${PROFILE_LIMITS.nicknameMax} characters`,
      'nickname',
    );
  }
  if (nickname.replace(INVISIBLE, '') === ANONYMOUS_NICKNAME) {
    throw new BadUserInputError(
      `nickname "${ANONYMOUS_NICKNAME}" is WeChat's anonymous placeholder, not a name: ask the person for theirs`,
      'nickname',
    );
  }
  return nickname;
}

/**
 * The avatar URL to store (normalised by the URL parser): absolute, https (development: also
 * loopback http), no credentials, at most 2048 characters.
 */
function checkAvatarUrl(given: string, allowLoopbackHttp: boolean): string {
  const value = given.trim();
  const fail = (reason: string) => new BadUserInputError(`avatarUrl ${reason}`, 'avatarUrl');
  if (value.length > PROFILE_LIMITS.avatarUrlMax) {
    throw fail(`must be at most ${PROFILE_LIMITS.avatarUrlMax} characters`);
  }
  // The URL parser would drop tabs and newlines silently: refuse them instead.
  if (/[\p{Cc}\s]/u.test(value)) throw fail('must not contain spaces or control characters');
  if (!URL.canParse(value)) throw fail('must be an absolute URL');
  const url = new URL(value);
  const loopback = url.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(allowLoopbackHttp && loopback)) {
    throw fail(
      allowLoopbackHttp
        ? 'must be an https:// URL (or, in development, http://127.0.0.1 or http://localhost)'
        : 'must be an https:// URL',
    );
  }
  if (url.username || url.password) throw fail('must not contain a user name or password');
  if (url.href.length > PROFILE_LIMITS.avatarUrlMax) {
    throw fail(`must be at most ${PROFILE_LIMITS.avatarUrlMax} characters`);
  }
  return url.href;
}
