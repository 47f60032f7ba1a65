import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { SecretBox } from '../crypto/secret-box.js';
import { AuditLog, type AuditSource } from '../audit/audit-log.js';
import { AppError, BadUserInputError, UnauthenticatedError, UserDisabledError } from '../errors.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { LifecycleRepository, type LockedUser, type MethodRow } from './lifecycle.repository.js';
import { LostRace, retryingRaces } from './races.js';
import { User } from './user.entity.js';
import type { WeChatIdentity } from './wechat-identity.js';

/** WeChat's appids and openids are far shorter; anything longer is no login method of ours. */
const MAX_ID_LENGTH = 128;

const accountEnded = () =>
  new UnauthenticatedError('This account was deleted or merged into another: sign in again');

/** A login method as events carry it: its id, kind and appId (never the openid). */
const methodRef = (m: MethodRow) => ({ id: m.id, kind: m.kind, appId: m.appId });

/** The fields a merge fills on the survivor when empty there, as `user.merged` names them. */
const FILLED_FIELDS = ['nickname', 'avatarUrl', 'phoneNumber'] as const;

/** The distinct unionIds of these users and their login methods (one WeChat person has one). */
async function unionIdsOf(em: EntityManager, users: LockedUser[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const user of users) {
    if (user.unionId) ids.add(user.unionId);
    for (const m of await LifecycleRepository.methodsOf(em, user.id)) if (m.unionId) ids.add(m.unionId);
  }
  return ids;
}

/**
 * What happens to an account after its first login (docs/architecture.md, "Account lifecycle"):
 * linking another WeChat identity, merging the user that holds it, unlinking a login method, and
 * deleting the account. Each is one transaction that locks the users it changes (in id order) and
 * reads again what it decided on under those locks; a change that moved under it is retried.
 */
export class AccountLifecycle {
  constructor(
    private readonly box: SecretBox,
    private readonly logger: Logger,
    private readonly outbox: WebhookOutbox,
  ) {}

  /**
   * Attaches a WeChat identity to the signed-in user. Already theirs: nothing changes. Held by
   * another user (its login method, or its unionId): IDENTITY_IN_USE, or with `merge` that user is
   * merged into this one. A different WeChat person (another unionId): IDENTITY_CONFLICT.
   */
  async link(
    em: EntityManager,
    userId: string,
    identity: WeChatIdentity,
    merge: boolean,
    source: AuditSource,
  ): Promise<User> {
    let mergedUserId: string | null = null;
    const user = await retryingRaces(em, async (tx) => {
      mergedUserId = null;
      const now = new Date();
      const { appId, openId, unionId } = identity;
      const methodOwner = await LifecycleRepository.methodOwner(tx, appId, openId);
      const unionHolder = unionId ? await LifecycleRepository.unionHolder(tx, unionId) : null;
      const otherId = [methodOwner, unionHolder].find((id) => id !== null && id !== userId) ?? null;
      const locked = await LifecycleRepository.lockUsers(tx, userId, otherId ?? userId);
      const actor = locked.find((u) => u.id === userId);
      if (!actor || actor.deletedAt) throw accountEnded();
      const other = otherId ? locked.find((u) => u.id === otherId) : undefined;
      // A disabled account stays as it is: neither merged away nor adding identities.
      if (actor.disabledAt || other?.disabledAt) throw new UserDisabledError();
      // Read again under the locks: a merge, unlink or deletion that committed before them has
      // changed who holds what.
      if (
        (otherId && (!other || other.deletedAt)) ||
        (await LifecycleRepository.methodOwner(tx, appId, openId)) !== methodOwner ||
        (unionId && (await LifecycleRepository.unionHolder(tx, unionId)) !== unionHolder)
      ) {
        throw new LostRace();
      }
      if (methodOwner === userId) return LifecycleRepository.user(tx, userId);

      const persons = await unionIdsOf(tx, other ? [actor, other] : [actor]);
      if (other && !merge) {
        throw new AppError(
          'IDENTITY_IN_USE',
          'This WeChat identity belongs to another account: link it with merge: true to merge that account into this one',
        );
      }
      if (unionId) persons.add(unionId);
      if (persons.size > 1) {
        throw new AppError(
          'IDENTITY_CONFLICT',
          other
            ? 'These accounts belong to two different WeChat users: they cannot be merged'
            : 'This WeChat identity belongs to another WeChat user than this account’s',
        );
      }
      if (other) {
        await this.mergeInto(tx, actor, other, now);
        mergedUserId = other.id;
        // Told on both accounts: the survivor's history and the tombstone's end.
        for (const [id, details] of [
          [userId, { mergedUserId: other.id }],
          [other.id, { mergedInto: userId }],
        ] as const) {
          AuditLog.record(tx, source, { type: 'account.merged', userId: id, details }, now);
        }
      }
      // The person's unionId, unless a third user holds it (then this stays otherAccountExists).
      const claim = unionId && (unionHolder === null || unionHolder === otherId) ? unionId : null;
      const linked = {
        type: 'account.linked',
        userId,
        appId,
        openId,
        details: { kind: identity.kind },
      } as const;
      AuditLog.record(tx, source, linked, now);
      return this.attach(tx, userId, identity, claim, methodOwner === null, now);
    });
    if (mergedUserId) this.logger.info({ userId, mergedUserId }, 'accounts merged');
    return user;
  }

  /**
   * The linked identity onto the user (locked, merged already): the unionId claimed, empty profile
   * fields filled from its WeChat profile (told like a login's), its login method added, or
   * refreshed when a merge moved it here.
   */
  private async attach(
    tx: EntityManager,
    userId: string,
    identity: WeChatIdentity,
    claim: string | null,
    isNew: boolean,
    now: Date,
  ): Promise<User> {
    const { appId, openId, unionId } = identity;
    // Values, not the entity: the fill below maps its row onto the same managed instance.
    const current = identity.profile ? await LifecycleRepository.user(tx, userId) : null;
    const before = current && { nickname: current.nickname, avatarUrl: current.avatarUrl };
    const user = await LifecycleRepository.fill(
      tx,
      userId,
      {
        unionId: claim,
        nickname: identity.profile?.nickname ?? null,
        avatarUrl: identity.profile?.avatarUrl ?? null,
        phoneNumber: null,
        profileChosenAt: null,
      },
      now,
    );
    // Empty fields filled from the linked identity's WeChat profile: told like a login's.
    const changed = before
      ? (['nickname', 'avatarUrl'] as const).filter((field) => before[field] !== user[field])
      : [];
    const sealed = identity.accessCode ? this.box.seal(identity.accessCode) : null;
    if (isNew) {
      const method = { id: randomUUID(), kind: identity.kind, appId, openId, unionId: unionId ?? null };
      const profileRefreshedAt = identity.profile ? now : null;
      await LifecycleRepository.addMethod(
        tx,
        { ...method, userId, accessCode: sealed, profileRefreshedAt },
        now,
      );
      this.outbox.emit(tx, 'login_method.linked', { userId, loginMethod: methodRef(method) });
    } else {
      // Moved by the merge: it keeps what WeChat said of it just now.
      await LifecycleRepository.refreshMethod(
        tx,
        { appId, openId, unionId: unionId ?? null, accessCode: sealed },
        now,
      );
    }
    if (changed.length > 0) {
      const values = Object.fromEntries(changed.map((field) => [field, user[field]]));
      this.outbox.emit(tx, 'user.updated', { userId, changed, ...values }, now);
    }
    return user;
  }

  /**
   * Merges `other` into `actor` (both locked): every login method moves, the survivor's empty
   * fields are filled from the other's, the other's sessions end, and the other becomes a
   * tombstone pointing to the survivor (so do the tombstones that pointed to it).
   */
  private async mergeInto(tx: EntityManager, actor: LockedUser, other: LockedUser, now: Date): Promise<void> {
    const moved = await LifecycleRepository.moveMethods(tx, other.id, actor.id, now);
    await LifecycleRepository.tombstone(tx, other.id, now, actor.id);
    const changed = FILLED_FIELDS.filter((field) => actor[field] === null && other[field] !== null);
    const { unionId, nickname, avatarUrl, phoneNumber } = other;
    // A nickname or avatar the other chose stays chosen here: later WeChat logins keep it.
    const profileChosenAt = changed.some((f) => f !== 'phoneNumber') ? other.profileChosenAt : null;
    await LifecycleRepository.fill(
      tx,
      actor.id,
      { unionId, nickname, avatarUrl, phoneNumber, profileChosenAt },
      now,
    );
    await LifecycleRepository.repointTombstones(tx, other.id, actor.id);
    await LifecycleRepository.endSessions(tx, other.id, now, 'merged');
    this.outbox.emit(
      tx,
      'user.merged',
      { userId: actor.id, mergedUserId: other.id, loginMethods: moved.map(methodRef), changed },
      now,
      other.id,
    );
  }

  /** Removes one of the user's login methods, never the last (LAST_LOGIN_METHOD). */
  unlink(
    em: EntityManager,
    userId: string,
    appId: string,
    openId: string,
    source: AuditSource,
  ): Promise<User> {
    for (const [field, value] of [
      ['appId', appId],
      ['openId', openId],
    ] as const) {
      if (value.length === 0 || value.length > MAX_ID_LENGTH) {
        throw new BadUserInputError(`${field} must be 1-${MAX_ID_LENGTH} characters`, field);
      }
    }
    return retryingRaces(em, async (tx) => {
      const [user] = await LifecycleRepository.lockUsers(tx, userId);
      if (!user || user.deletedAt) throw accountEnded();
      const methods = await LifecycleRepository.methodsOf(tx, userId);
      const target = methods.find((m) => m.appId === appId && m.openId === openId);
      if (!target)
        throw new BadUserInputError('No login method of this account has this appId and openId', 'openId');
      if (methods.length === 1) {
        throw new AppError(
          'LAST_LOGIN_METHOD',
          'This is the only way this account can sign in: link another one first, or delete the account',
        );
      }
      const now = new Date();
      await LifecycleRepository.deleteMethod(tx, target.id);
      // The person's unionId stays with the user only while a remaining method carries it: else
      // the unlinked app's next login would find this user again by it.
      const rest = methods.filter((m) => m !== target);
      if (user.unionId && !rest.some((m) => m.unionId === user.unionId)) {
        await LifecycleRepository.setUnionId(tx, userId, null, now);
      }
      this.outbox.emit(tx, 'login_method.unlinked', { userId, loginMethod: methodRef(target) }, now);
      AuditLog.record(
        tx,
        source,
        { type: 'account.unlinked', userId, appId, openId, details: { kind: target.kind } },
        now,
      );
      return LifecycleRepository.user(tx, userId);
    });
  }

  /**
   * Deletes the account: its login methods (with their sealed WeChat credentials) go, its
   * personal data is erased, every session ends, and a tombstone keeps its id and the time. The
   * same WeChat person signing in later is a new user.
   */
  async delete(em: EntityManager, userId: string, source: AuditSource): Promise<void> {
    await retryingRaces(em, async (tx) => {
      const [user] = await LifecycleRepository.lockUsers(tx, userId);
      if (!user || user.deletedAt) throw accountEnded();
      const now = new Date();
      await LifecycleRepository.deleteMethods(tx, userId);
      await LifecycleRepository.tombstone(tx, userId, now, null);
      await LifecycleRepository.endSessions(tx, userId, now, 'deleted');
      this.outbox.emit(tx, 'user.deleted', { userId }, now);
      AuditLog.record(tx, source, { type: 'account.deleted', userId }, now);
    });
    this.logger.info({ userId }, 'account deleted');
  }
}
