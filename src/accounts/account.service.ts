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

export interface FoundUser {
  user: User;
  isNewUser: boolean;
}

/** DESIGN.md's identity rules: one user per (appId, openId), one per unionId. */
export class AccountService {
  constructor(
    private readonly box: SecretBox,
    private readonly logger: Logger,
  ) {}

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
