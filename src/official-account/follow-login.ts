import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditLog } from '../audit/audit-log.js';
import type { ConfiguredApp } from '../config.js';
import { RegistrationClosedError, UserDisabledError } from '../errors.js';
import type { AccountService } from '../identity/account.service.js';
import { retryingRaces } from '../identity/races.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import { LoginTicketRepository } from '../login-tickets/login-ticket.repository.js';
import { isTicketScene } from '../login-tickets/login-tickets.js';
import type { TicketWakeups } from '../login-tickets/ticket-wakeups.js';
import type { OfficialAccountClient } from '../wechat/official-account.client.js';
import { FollowRepository, type PushKey } from './follow.repository.js';
import type { PushedMessage } from './push-message.js';

/**
 * What a push did: a login ticket confirmed; a follow or unfollow recorded; nothing (a message or
 * event we have no use for, a scene that is no waiting ticket of this account, a person who matches
 * no user while registration is closed, a disabled user); or nothing again (the push was already handled: a retry or
 * a replay).
 */
export type PushOutcome =
  | 'login'
  | 'followed'
  | 'unfollowed'
  | 'ignored'
  | 'no-ticket'
  | 'registration-closed'
  | 'user-disabled'
  | 'duplicate';

export interface FollowLoginDeps {
  client: OfficialAccountClient;
  accounts: AccountService;
  wakeups: TicketWakeups;
  /** Told of each ticket a push confirmed (metrics). */
  onConfirmed: () => void;
}

/** The ticket stopped waiting (expired, or confirmed by another person's push) during the login. */
class TicketGone extends Error {
  override name = 'TicketGone';
}

/**
 * Follow-login (docs/api.md, "Login tickets"): an Official Account's pushed `subscribe` (EventKey
 * `qrscene_<scene>`) or `SCAN` (EventKey `<scene>`) of a login ticket's QR code confirms that
 * ticket for the person who pushed it, found or registered by the identity rules (their unionid
 * from `cgi-bin/user/info` joins their other apps); the waiting page then gets its session as for
 * any ticket. `unsubscribe` and plain follows are recorded on the login method. Each push is
 * handled once (by FromUserName and CreateTime), in the transaction of what it does.
 */
export class FollowLogin {
  constructor(private readonly deps: FollowLoginDeps) {}

  async handle(em: EntityManager, app: ConfiguredApp, message: PushedMessage): Promise<PushOutcome> {
    if (message.msgType !== 'event') return 'ignored';
    const key: PushKey = { appId: app.appId, openId: message.fromUserName, createTime: message.createTime };
    const eventKey = message.eventKey ?? '';
    switch (message.event) {
      case 'subscribe': {
        const scene = eventKey.startsWith('qrscene_') ? eventKey.slice('qrscene_'.length) : '';
        const outcome = isTicketScene(scene) ? await this.login(em, app, key, scene) : 'no-ticket';
        if (outcome !== 'no-ticket') return outcome;
        return (await FollowRepository.subscription(em, key, true, new Date())) ? 'followed' : 'duplicate';
      }
      case 'SCAN':
        return isTicketScene(eventKey) ? this.login(em, app, key, eventKey) : 'no-ticket';
      case 'unsubscribe':
        return (await FollowRepository.subscription(em, key, false, new Date())) ? 'unfollowed' : 'duplicate';
      default:
        return 'ignored';
    }
  }

  /**
   * The ticket of `scene` confirmed for this person, in one transaction with their find-or-register
   * and the push's claim. WeChat is asked for the unionid only when the ticket waits. Nothing is
   * written when the ticket stops waiting meanwhile, nor for a person who matches no user while
   * registration is closed (the ticket goes on waiting).
   */
  private async login(
    em: EntityManager,
    app: ConfiguredApp,
    key: PushKey,
    scene: string,
  ): Promise<PushOutcome> {
    if (!(await LoginTicketRepository.waitingForFollow(em, app.appId, scene, new Date()))) return 'no-ticket';
    const follower = await this.deps.client.follower(em, app, key.openId);
    // Following is the confirmation: WeChat says they do not (any more), nothing happens.
    if (!follower.subscribed) return 'no-ticket';
    const identity: WeChatIdentity = {
      kind: LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT,
      appId: app.appId,
      openId: key.openId,
      unionId: follower.unionId,
      profile: undefined,
      accessCode: undefined,
    };
    let ticketId: string | null;
    try {
      ticketId = await retryingRaces(em, async (tx) => {
        const now = new Date();
        if (!(await FollowRepository.claim(tx, key, now))) return null;
        const { user } = await this.deps.accounts.findOrRegister(tx, identity, now);
        // The user (new, or changed) is written before the ticket names it.
        await tx.flush();
        await FollowRepository.following(tx, key, now);
        const confirmed = await LoginTicketRepository.confirmByFollow(tx, {
          appId: app.appId,
          scene,
          userId: user.id,
          now,
        });
        if (!confirmed) throw new TicketGone();
        return confirmed.id;
      });
    } catch (error) {
      if (error instanceof TicketGone) return 'no-ticket';
      if (!(error instanceof RegistrationClosedError || error instanceof UserDisabledError)) throw error;
      // Refused: recorded as a failed login of this identity (no client: the push is WeChat's).
      const userId = error instanceof UserDisabledError ? error.userId : null;
      await AuditLog.write(
        em,
        { actor: userId ? { type: 'user', id: userId } : { type: 'anonymous' } },
        {
          type: 'login.failed',
          userId,
          appId: app.appId,
          openId: key.openId,
          errorCode: error.code,
          details: { kind: LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT, via: 'follow' },
        },
      );
      return error instanceof UserDisabledError ? 'user-disabled' : 'registration-closed';
    }
    if (ticketId === null) return 'duplicate';
    this.deps.wakeups.wake(ticketId);
    this.deps.onConfirmed();
    return 'login';
  }
}
