import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { SecretBox } from './secrets.js';
import { UserLoginMethod, type LoginMethodKind } from './user-login-method.entity.js';
import { User } from './user.entity.js';

/** Who WeChat says logged in, and what it told us about them. */
export interface WeChatIdentity {
  kind: LoginMethodKind;
  appId: string;
  openId: string;
  unionId: string | undefined;
  /** Real nickname/avatar from WeChat, when it gave them (not the anonymised default). */
  profile: { nickname?: string; avatarUrl?: string } | undefined;
  /** The WeChat credential to keep (session_key, OAuth access token); stored encrypted. */
  accessCode: string | undefined;
}

/** What a login answers about the user. */
export interface UserSummary {
  id: string;
  nickname: string | null;
  avatarUrl: string | null;
  createdAt: Date;
}

/** A `user` row as raw SQL returns it. */
export interface UserRow {
  id: string;
  nickname: string | null;
  avatar_url: string | null;
  created_at: Date | string;
}

export function userSummaryFromRow(row: UserRow): UserSummary {
  return {
    id: row.id,
    nickname: row.nickname,
    avatarUrl: row.avatar_url,
    createdAt: new Date(row.created_at),
  };
}

export interface FoundUser {
  user: User;
  isNewUser: boolean;
}

/**
 * The returning-user login in ONE statement (its own transaction): refresh the login method, open
 * the session, write its refresh token, read the user. It matches only when nothing else has to
 * change (same unionId, profile fresh enough or not given); otherwise it writes nothing and the
 * caller takes the full find-or-register path.
 */
const RETURNING_LOGIN_SQL = `
with m as (
  update user_login_method
     set last_login_at = ?, updated_at = ?, access_code = coalesce(?, access_code)
   where app_id = ? and open_id = ?
     and (?::text is null or union_id = ?)
     and (?::timestamptz is null or profile_refreshed_at > ?)
  returning user_id
), s as (
  insert into session (id, created_at, updated_at, user_id, expires_at)
  select ?, ?, ?, m.user_id, ? from m
  returning id, user_id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select ?, s.id, ? from s
)
select u.id, u.nickname, u.avatar_url, u.created_at from s join "user" u on u.id = s.user_id`;

/** DESIGN.md's identity rules: one user per (appId, openId), one per unionId. */
export class AccountService {
  constructor(
    private readonly box: SecretBox,
    private readonly logger: Logger,
  ) {}

  /**
   * The returning-user fast path (see RETURNING_LOGIN_SQL): the user, or null when this login
   * needs the full path. `profileFreshAfter`: only match if the profile was fetched after it.
   */
  async loginReturning(
    em: EntityManager,
    identity: Pick<WeChatIdentity, 'appId' | 'openId' | 'unionId' | 'accessCode'>,
    session: { sessionId: string; tokenHash: string; expiresAt: Date },
    now: Date,
    profileFreshAfter: Date | null,
  ): Promise<UserSummary | null> {
    const accessCode = identity.accessCode ? this.box.seal(identity.accessCode) : null;
    const unionId = identity.unionId ?? null;
    const rows = await em
      .getConnection()
      .execute<UserRow[]>(RETURNING_LOGIN_SQL, [
        now,
        now,
        accessCode,
        identity.appId,
        identity.openId,
        unionId,
        unionId,
        profileFreshAfter,
        profileFreshAfter,
        session.sessionId,
        now,
        now,
        session.expiresAt,
        session.tokenHash,
        now,
      ]);
    return rows[0] ? userSummaryFromRow(rows[0]) : null;
  }

  /**
   * The user with this (appId, openId); else the user with this unionId from another app (this app
   * is linked to them); else a new user. Runs inside the caller's transaction; a concurrent first
   * login surfaces as a unique violation at flush, and the caller retries, finding the winner.
   */
  async findOrRegister(em: EntityManager, identity: WeChatIdentity, now: Date): Promise<FoundUser> {
    const accessCode = identity.accessCode ? this.box.seal(identity.accessCode) : undefined;
    const method = await em.findOne(
      UserLoginMethod,
      { appId: identity.appId, openId: identity.openId },
      { populate: ['user'] },
    );
    if (method) {
      method.lastLoginAt = now;
      if (accessCode) method.accessCode = accessCode;
      if (identity.profile) method.profileRefreshedAt = now;
      if (identity.unionId && !method.unionId) method.unionId = identity.unionId;
      const user = method.user as User;
      if (identity.unionId && !user.unionId) await this.claimUnionId(em, user, identity.unionId);
      this.applyProfile(user, identity.profile);
      return { user, isNewUser: false };
    }

    let user = identity.unionId ? await em.findOne(User, { unionId: identity.unionId }) : null;
    const isNewUser = !user;
    if (!user) {
      user = em.create(User, { unionId: identity.unionId ?? null, createdAt: now, updatedAt: now });
    }
    this.applyProfile(user, identity.profile);
    em.create(UserLoginMethod, {
      user,
      kind: identity.kind,
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId ?? null,
      accessCode: accessCode ?? null,
      lastLoginAt: now,
      profileRefreshedAt: identity.profile ? now : null,
      createdAt: now,
      updatedAt: now,
    });
    return { user, isNewUser };
  }

  private applyProfile(user: User, profile: WeChatIdentity['profile']): void {
    if (profile?.nickname && user.nickname !== profile.nickname) user.nickname = profile.nickname;
    if (profile?.avatarUrl && user.avatarUrl !== profile.avatarUrl) user.avatarUrl = profile.avatarUrl;
  }

  /** A user first seen through an unbound app learns its unionId, unless another user has it. */
  private async claimUnionId(em: EntityManager, user: User, unionId: string): Promise<void> {
    const holder = await em.count(User, { unionId });
    if (holder === 0) {
      user.unionId = unionId;
    } else {
      this.logger.warn({ userId: user.id }, 'unionid already belongs to another user: accounts not merged');
    }
  }
}
