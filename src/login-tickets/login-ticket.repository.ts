import type { EntityManager } from '@mikro-orm/postgresql';
import { auditLoginInsert, type AuditLoginParams } from '../audit/audit-log.js';
import { dateOf, execute, maybeOne, sql } from '../db/sql.js';
import {
  OTHER_ACCOUNT_EXISTS,
  USER_SUMMARY_COLUMNS,
  userSummaryOf,
  type UserSummary,
  type UserSummaryRow,
} from '../identity/user.repository.js';
import {
  sessionInserts,
  sessionParams,
  type SessionParams,
  type SessionRows,
} from '../sessions/login.repository.js';
import type { LoginTicketKind } from './login-ticket.entity.js';

/** The channel a ticket's change is announced on (payload: the ticket's id), for every instance. */
export const TICKET_CHANNEL = 'login_ticket';

const ANNOUNCE = sql<'payload', { announced: string }>(
  `select pg_notify('${TICKET_CHANNEL}', :payload)::text as announced`,
);

const CREATE = sql<'id' | 'kind' | 'appId' | 'scene' | 'secretHash' | 'now' | 'expiresAt'>(`
insert into login_ticket (id, kind, app_id, scene, secret_hash, state, created_at, expires_at)
values (:id, :kind, :appId, :scene, :secretHash, 'WAITING', :now, :expiresAt)`);

/**
 * WAITING → SCANNED by this user, for a user of the ticket's mini program only; announced to the
 * waiting pages' instances at commit. Scanned again by the same user: nothing matches (the
 * service answers from BY_SCENE, writing and announcing nothing).
 */
const SCAN = sql<'scene' | 'userId' | 'now', { id: string; kind: LoginTicketKind; expiresAt: string }>(`
with t as (
  update login_ticket t set state = 'SCANNED', user_id = :userId, scanned_at = :now
   where t.scene = :scene and t.expires_at > :now and t.state = 'WAITING' and t.kind <> 'OFFICIAL_ACCOUNT_QR'
     and exists (select 1 from user_login_method lm where lm.user_id = :userId and lm.app_id = t.app_id)
  returning t.id, t.kind, t.expires_at
)
select t.id, t.kind, t.expires_at as "expiresAt", pg_notify('${TICKET_CHANNEL}', t.id::text)::text as notified from t`);

/** SCANNED by this user → CONFIRMED or CANCELLED, before its end; announced at commit. */
const FINISH = sql<'scene' | 'userId' | 'now' | 'state', { id: string; kind: LoginTicketKind }>(`
with t as (
  update login_ticket set state = :state, finished_at = :now
   where scene = :scene and state = 'SCANNED' and user_id = :userId and expires_at > :now
  returning id, kind
)
select t.id, t.kind, pg_notify('${TICKET_CHANNEL}', t.id::text)::text as notified from t`);

/** An Official Account QR ticket of this account still waiting for its follow or scan. */
const WAITING_FOR_FOLLOW = sql<'appId' | 'scene' | 'now', { id: string }>(`
select id from login_ticket
 where scene = :scene and app_id = :appId and kind = 'OFFICIAL_ACCOUNT_QR' and state = 'WAITING' and expires_at > :now`);

/**
 * WAITING → CONFIRMED by the person whose follow or scan of the account's QR code WeChat pushed
 * (scanned and confirmed at once: the push is the confirmation); announced at commit.
 */
const CONFIRM_BY_FOLLOW = sql<'appId' | 'scene' | 'userId' | 'now', { id: string; kind: LoginTicketKind }>(`
with t as (
  update login_ticket set state = 'CONFIRMED', user_id = :userId, scanned_at = :now, finished_at = :now
   where scene = :scene and app_id = :appId and kind = 'OFFICIAL_ACCOUNT_QR' and state = 'WAITING'
     and expires_at > :now
  returning id, kind
)
select t.id, t.kind, pg_notify('${TICKET_CHANNEL}', t.id::text)::text as notified from t`);

/** A ticket by its scene, for telling the mini program why a move was refused. */
const BY_SCENE = sql<
  'scene' | 'userId',
  { id: string; state: string; scannedBy: string | null; expiresAt: string; ofApp: boolean }
>(`
select t.id, t.state, t.user_id as "scannedBy", t.expires_at as "expiresAt",
       exists (select 1 from user_login_method lm where lm.user_id = :userId and lm.app_id = t.app_id) as "ofApp"
  from login_ticket t where t.scene = :scene and t.kind <> 'OFFICIAL_ACCOUNT_QR'`);

/** A ticket's state as its holder reads it (id and secret's hash both match, or nothing). */
const STATUS = sql<
  'id' | 'secretHash',
  {
    kind: LoginTicketKind;
    state: string;
    expiresAt: string;
    finishedAt: string | null;
    delivered: boolean;
    userDisabled: boolean;
  }
>(`
select kind, state, expires_at as "expiresAt", finished_at as "finishedAt", delivered_at is not null as delivered,
       exists (select 1 from "user" u where u.id = t.user_id and u.disabled_at is not null) as "userDisabled"
  from login_ticket t where id = :id and secret_hash = :secretHash`);

/**
 * The handover, in ONE statement: a CONFIRMED ticket not yet delivered (confirmed after
 * `confirmedAfter`) is marked delivered, and a session of the user who confirmed it is opened with
 * its refresh token and its `login.succeeded` audit event; the user's login method of the ticket's app records the login. Two holders
 * asking at once: the second waits for the first's row lock, then matches nothing (delivered).
 * Nothing matches when the user has ended meanwhile (merged or deleted) or was disabled: the user
 * is taken `FOR KEY SHARE` with that test, as RETURNING_LOGIN takes it (no session outlives a
 * disable).
 */
const HAND_OVER = sql<
  'id' | 'secretHash' | 'now' | 'confirmedAfter' | SessionParams | AuditLoginParams,
  UserSummaryRow & { otherAccountExists: boolean }
>(`
with k as (
  select u.id from login_ticket t join "user" u on u.id = t.user_id
   where t.id = :id and u.deleted_at is null and u.disabled_at is null
     for key share of u
), t as (
  update login_ticket t set delivered_at = :now
    from k
   where t.id = :id and t.secret_hash = :secretHash and t.state = 'CONFIRMED' and t.delivered_at is null
     and t.finished_at > :confirmedAfter and k.id = t.user_id
  returning t.user_id, t.app_id
), m as (
  update user_login_method lm set last_login_at = :now, updated_at = :now
    from t where lm.user_id = t.user_id and lm.app_id = t.app_id
), ${sessionInserts('t')}, ${auditLoginInsert('s', '(select t.app_id from t)', 'null')}
select ${USER_SUMMARY_COLUMNS}, ${OTHER_ACCOUNT_EXISTS} as "otherAccountExists"
  from s join "user" u on u.id = s.user_id`);

/** A ticket's row as its holder reads it. */
export interface TicketRow {
  kind: LoginTicketKind;
  state: string;
  expiresAt: Date;
  finishedAt: Date | null;
  delivered: boolean;
  /** The person who confirmed it has been disabled since (USER_DISABLED at the handover). */
  userDisabled: boolean;
}

/** Why a move of the mini program was refused, read after it matched nothing. */
export interface SceneRow {
  id: string;
  state: string;
  scannedBy: string | null;
  expiresAt: Date;
  /** The caller is a user of the ticket's mini program. */
  ofApp: boolean;
}

/** The SQL of login tickets: each move is one statement, atomic on its own. */
export const LoginTicketRepository = {
  /** A notification on the ticket channel, outside any transaction (TicketWakeups' probe). */
  async announce(em: EntityManager, payload: string): Promise<void> {
    await execute(em, ANNOUNCE, { payload });
  },

  async create(
    em: EntityManager,
    ticket: {
      id: string;
      kind: LoginTicketKind;
      appId: string;
      scene: string;
      secretHash: string;
      now: Date;
      expiresAt: Date;
    },
  ): Promise<void> {
    await execute(em, CREATE, ticket);
  },

  /** The ticket's id and end when this user's scan took; undefined otherwise. */
  async scan(
    em: EntityManager,
    scene: string,
    userId: string,
    now: Date,
  ): Promise<{ id: string; kind: LoginTicketKind; expiresAt: Date } | undefined> {
    const row = await maybeOne(em, SCAN, { scene, userId, now });
    return row && { id: row.id, kind: row.kind, expiresAt: dateOf(em, row.expiresAt) };
  },

  /** The ticket when this user's confirmation or cancellation took; undefined otherwise. */
  async finish(
    em: EntityManager,
    scene: string,
    userId: string,
    state: 'CONFIRMED' | 'CANCELLED',
    now: Date,
  ): Promise<{ id: string; kind: LoginTicketKind } | undefined> {
    const row = await maybeOne(em, FINISH, { scene, userId, now, state });
    return row && { id: row.id, kind: row.kind };
  },

  /** Whether an Official Account QR ticket of this account waits for this scene. */
  async waitingForFollow(em: EntityManager, appId: string, scene: string, now: Date): Promise<boolean> {
    return (await maybeOne(em, WAITING_FOR_FOLLOW, { appId, scene, now })) !== undefined;
  },

  /** The ticket when the follow or scan confirmed it for this user; undefined when it no longer waits. */
  async confirmByFollow(
    em: EntityManager,
    ticket: { appId: string; scene: string; userId: string; now: Date },
  ): Promise<{ id: string; kind: LoginTicketKind } | undefined> {
    const row = await maybeOne(em, CONFIRM_BY_FOLLOW, ticket);
    return row && { id: row.id, kind: row.kind };
  },

  async byScene(em: EntityManager, scene: string, userId: string): Promise<SceneRow | undefined> {
    const row = await maybeOne(em, BY_SCENE, { scene, userId });
    return row && { ...row, expiresAt: dateOf(em, row.expiresAt) };
  },

  async status(em: EntityManager, id: string, secretHash: string): Promise<TicketRow | undefined> {
    const row = await maybeOne(em, STATUS, { id, secretHash });
    return (
      row && {
        kind: row.kind,
        state: row.state,
        expiresAt: dateOf(em, row.expiresAt),
        finishedAt: row.finishedAt === null ? null : dateOf(em, row.finishedAt),
        delivered: row.delivered,
        userDisabled: row.userDisabled,
      }
    );
  },

  /** See HAND_OVER: the user and otherAccountExists when this caller got the session. */
  async handOver(
    em: EntityManager,
    ticket: {
      id: string;
      secretHash: string;
      now: Date;
      confirmedAfter: Date;
      session: SessionRows;
      /** The handover's `login.succeeded` audit event (AuditLog.loginParams). */
      audit: Record<AuditLoginParams, unknown>;
    },
  ): Promise<{ user: UserSummary; otherAccountExists: boolean } | undefined> {
    const row = await maybeOne(em, HAND_OVER, {
      id: ticket.id,
      secretHash: ticket.secretHash,
      now: ticket.now,
      confirmedAfter: ticket.confirmedAfter,
      ...sessionParams(ticket.session),
      ...ticket.audit,
    });
    return row && { user: userSummaryOf(em, row), otherAccountExists: row.otherAccountExists };
  },
};
