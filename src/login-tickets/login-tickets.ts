import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditLog } from '../audit/audit-log.js';
import QRCode from 'qrcode';
import type { Config } from '../config.js';
import { sha256 } from '../crypto/keys.js';
import { UUID } from '../db/base.entity.js';
import { AppError, BadUserInputError, UnauthenticatedError, UserDisabledError } from '../errors.js';
import type { LoginResult } from '../logins/sign-in.js';
import { credentialsFor } from '../logins/platform.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import type { RequestClient } from '../sessions/session-device.js';
import type { SessionService } from '../sessions/session.service.js';
import type { MiniProgramCodeClient } from '../wechat/mini-program-code.client.js';
import type { OfficialAccountClient } from '../wechat/official-account.client.js';
import { LoginTicketKind, LoginTicketState } from './login-ticket.entity.js';
import { LoginTicketRepository, type SceneRow } from './login-ticket.repository.js';
import type { TicketWakeups } from './ticket-wakeups.js';

/** What createLoginTicket answers: the id and secret go to the waiting page alone. */
export interface CreatedTicket {
  id: string;
  secret: string;
  kind: LoginTicketKind;
  scene: string;
  expiresAt: Date;
  /** `data:image/png;base64,…` (MINI_PROGRAM_CODE, OFFICIAL_ACCOUNT_QR). */
  qrCode: string | null;
  /** The URL Link that opens the mini program from a phone browser (MINI_PROGRAM_LINK). */
  link: string | null;
}

/** A ticket as its waiting page sees it: `auth` once, to the first answer after CONFIRMED. */
export interface TicketStatus {
  state: LoginTicketState;
  auth: LoginResult | null;
}

/** What the mini program sees of the ticket it scanned. */
export interface ScannedTicket {
  ticketId: string;
  expiresAt: Date;
}

/** What a ticket event is, for the metrics. */
export type TicketEvent = 'created' | 'scanned' | 'confirmed' | 'cancelled';

export interface LoginTicketsDeps {
  config: Config;
  codes: MiniProgramCodeClient;
  officialAccounts: OfficialAccountClient;
  sessions: SessionService;
  rateLimiter: RateLimiter;
  wakeups: TicketWakeups;
  /** Told of each move of a ticket (metrics). */
  onEvent: (kind: LoginTicketKind, event: TicketEvent) => void;
  /** Told of each session handed to a waiting page: a login of that kind (metrics). */
  onLogin: (kind: LoginTicketKind) => void;
}

/** A scene is what a code or link carries: WeChat allows 32 characters; ours are [A-Za-z0-9]. */
const SCENE = /^[A-Za-z0-9]{1,32}$/;

/** Whether `text` could be one of our tickets' scenes (what a pushed EventKey is checked against). */
export const isTicketScene = (text: string): boolean => SCENE.test(text);
const SCENE_LENGTH = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Ticket ids are UUIDs; secrets are ours (`lts_` + 43 characters): anything longer is not one. */
const MAX_SECRET_LENGTH = 128;

/** A waiting subscription reads its ticket again this often when no announcement can reach it. */
const RECHECK_UNHEARD_MS = 3_000;
/** … and this often when announcements do reach it (a safety net only). */
const RECHECK_HEARD_MS = 30_000;

/** After a failed read, the next waits 1 s, then twice as long each time, up to this. */
const MAX_BACKOFF_MS = 30_000;
/** A stream whose reads still fail this long after its ticket's end stops trying. */
const GIVE_UP_AFTER_END_MS = 5 * 60_000;

/** What ties a watch to its transport: its socket's end, and who counts the live ones. */
export interface WatchScope {
  /** Aborts when the subscriber is gone (its socket closed): the stream ends at once. */
  signal?: AbortSignal;
  /** Called once when the stream has ended, however (first read refused included). */
  onEnd?: () => void;
}

const FINAL: ReadonlySet<LoginTicketState> = new Set(['CONFIRMED', 'CANCELLED', 'EXPIRED']);

/** 32 characters of [A-Za-z0-9], uniformly (190 bits): unguessable, and what WeChat allows. */
function newScene(): string {
  let scene = '';
  while (scene.length < SCENE_LENGTH) {
    for (const byte of randomBytes(SCENE_LENGTH * 2)) {
      // 248 = 4 × 62: bytes above it would favour the first letters.
      if (byte < 248 && scene.length < SCENE_LENGTH) scene += ALPHABET[byte % 62];
    }
  }
  return scene;
}

export const ticketNotFound = () =>
  new AppError('TICKET_NOT_FOUND', 'No such login ticket (unknown, or the secret is wrong)');

const ticketOver = () =>
  new AppError(
    'TICKET_EXPIRED',
    'This login ticket is no longer valid (expired, confirmed or cancelled): ask for a new code',
  );

/**
 * Login tickets (docs/api.md, "Login tickets"): a waiting page (a website showing a mini program
 * code, a phone browser opening a URL Link) is signed in as the person who scans the ticket in
 * the mini program and confirms it there. Each move is one statement; the session is opened when
 * the waiting page first reads the CONFIRMED ticket (by polling or subscription, whichever comes
 * first), and only then.
 */
export class LoginTickets {
  constructor(private readonly deps: LoginTicketsDeps) {}

  /**
   * A new ticket and its code or link: a mini program's (`appId` names a mini program) or an
   * Official Account's parametric QR code (`appId` names an official account with event pushes).
   * WeChat is asked first: when it refuses, nothing is written. Limited per client IP.
   */
  async create(
    em: EntityManager,
    kind: LoginTicketKind,
    appId: string | null | undefined,
    clientIp: string,
  ): Promise<CreatedTicket> {
    const official = kind === LoginTicketKind.OFFICIAL_ACCOUNT_QR;
    const app = credentialsFor(this.deps.config, official ? 'official' : 'mini', appId);
    if (official && !app.token) {
      throw new AppError(
        'PLATFORM_NOT_CONFIGURED',
        'this official account receives no event pushes (set WECHAT_OA_TOKEN, or its token in WECHAT_APPS): follow-login needs them',
      );
    }
    await this.deps.rateLimiter.ip('ticket', clientIp);
    if (kind === LoginTicketKind.MINI_PROGRAM_LINK) {
      // Each link spends one of the mini program's daily quota with WeChat: few per client, and
      // a daily budget of our own below WeChat's cap.
      await this.deps.rateLimiter.ip('link', clientIp);
      await this.deps.rateLimiter.linksOfApp(app.appId);
    }
    const { page, ttlSeconds } = this.deps.config.loginTickets;
    const scene = newScene();
    let qrCode: string | null = null;
    let link: string | null = null;
    if (kind === LoginTicketKind.MINI_PROGRAM_CODE) {
      const image = await this.deps.codes.code(em, app, page, scene);
      qrCode = `data:${image.contentType};base64,${image.bytes.toString('base64')}`;
    } else if (official) {
      // The code lives as long as the ticket; rendered here, so the page never loads WeChat's image host.
      const url = await this.deps.officialAccounts.qrUrl(em, app, scene, ttlSeconds);
      qrCode = await QRCode.toDataURL(url, { errorCorrectionLevel: 'M', margin: 2, width: 300 });
    } else {
      link = await this.deps.codes.link(em, app, page, scene);
    }
    const now = new Date();
    const id = randomUUID();
    const secret = `lts_${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
    await LoginTicketRepository.create(em, {
      id,
      kind,
      appId: app.appId,
      scene,
      secretHash: sha256(secret),
      now,
      expiresAt,
    });
    this.deps.onEvent(kind, 'created');
    return { id, secret, kind, scene, expiresAt, qrCode, link };
  }

  /** The mini program user who opened the ticket's page: WAITING → SCANNED (again: unchanged). */
  async scan(em: EntityManager, scene: string, userId: string): Promise<ScannedTicket> {
    this.checkScene(scene);
    // Counted per person (RATE_LIMIT_USER_PER_MINUTE), not per IP: phones behind one address
    // (a carrier's NAT, an office) do not share a budget with the pages that make tickets.
    await this.deps.rateLimiter.user(userId);
    const now = new Date();
    const scanned = await LoginTicketRepository.scan(em, scene, userId, now);
    if (!scanned) {
      const row = await LoginTicketRepository.byScene(em, scene, userId);
      // Scanned again by the same person (a reopened page): as before, nothing written or announced.
      if (row?.ofApp && row.state === 'SCANNED' && row.scannedBy === userId && row.expiresAt > now) {
        return { ticketId: row.id, expiresAt: row.expiresAt };
      }
      throw this.refusal(row, userId);
    }
    this.deps.wakeups.wake(scanned.id);
    this.deps.onEvent(scanned.kind, 'scanned');
    return { ticketId: scanned.id, expiresAt: scanned.expiresAt };
  }

  /**
   * The user who scanned it confirms (CONFIRMED: the waiting page gets a session of this user) or
   * cancels it. Asked again by the same user once done: true, nothing more happens.
   */
  async finish(
    em: EntityManager,
    scene: string,
    userId: string,
    state: 'CONFIRMED' | 'CANCELLED',
  ): Promise<true> {
    this.checkScene(scene);
    await this.deps.rateLimiter.user(userId);
    const finished = await LoginTicketRepository.finish(em, scene, userId, state, new Date());
    if (finished) {
      this.deps.wakeups.wake(finished.id);
      this.deps.onEvent(finished.kind, state === 'CONFIRMED' ? 'confirmed' : 'cancelled');
      return true;
    }
    const row = await LoginTicketRepository.byScene(em, scene, userId);
    if (row?.ofApp && row.state === state && row.scannedBy === userId) return true;
    if (row?.ofApp && row.state === 'WAITING' && row.expiresAt > new Date()) {
      throw new BadUserInputError(
        'scan the ticket first (scanLoginTicket), then confirm or cancel it',
        'scene',
      );
    }
    throw this.refusal(row, userId);
  }

  /**
   * The ticket as its holder sees it; CONFIRMED and not yet handed over: the session, now (once,
   * whoever asks first). TICKET_NOT_FOUND for an unknown id or a wrong secret alike.
   */
  async status(em: EntityManager, id: string, secret: string, reader: RequestClient): Promise<TicketStatus> {
    return (await this.read(em, id, secret, reader)).status;
  }

  /**
   * Every change of the ticket until a final state (CONFIRMED, CANCELLED or EXPIRED): the state
   * now, then each new one as it happens, on this instance or another (TicketWakeups). The first
   * read happens before this resolves, so a wrong id or secret is refused here, not mid-stream.
   * It ends at once when `return()` is called (the subscriber left) or `scope.signal` aborts (its
   * socket closed, whatever the transport's bookkeeping says), and tells `scope.onEnd` when it
   * has ended, however it ends.
   */
  async watch(
    em: EntityManager,
    id: string,
    secret: string,
    reader: RequestClient,
    scope: WatchScope = {},
  ): Promise<AsyncIterableIterator<TicketStatus>> {
    let first: { status: TicketStatus; expiresAt: Date };
    try {
      first = await this.read(em, id, secret, reader);
    } catch (error) {
      scope.onEnd?.();
      throw error;
    }
    const stop = new AbortController();
    const signal = scope.signal ? AbortSignal.any([stop.signal, scope.signal]) : stop.signal;
    const changes = this.follow(em, id, secret, reader, first, signal, scope.onEnd);
    const iterator: AsyncIterableIterator<TicketStatus> = {
      next: () => changes.next(),
      return: (value?: unknown) => {
        stop.abort();
        return changes.return(value);
      },
      throw: (error?: unknown) => {
        stop.abort();
        return changes.throw(error);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  private async *follow(
    em: EntityManager,
    id: string,
    secret: string,
    reader: RequestClient,
    first: { status: TicketStatus; expiresAt: Date },
    signal: AbortSignal,
    onEnd: (() => void) | undefined,
  ): AsyncGenerator<TicketStatus> {
    let woken = false;
    let wake: (() => void) | undefined;
    let stopWaiting = () => {};
    const leave = () => wake?.();
    signal.addEventListener('abort', leave);
    try {
      let { status, expiresAt } = first;
      yield status;
      if (FINAL.has(status.state)) return;
      stopWaiting = this.deps.wakeups.wait(id, () => {
        woken = true;
        wake?.();
      });
      /** Reads that failed in a row (the database away): each waits twice as long as the last. */
      let failures = 0;
      while (!signal.aborted) {
        if (!woken) {
          const recheck = this.deps.wakeups.listening ? RECHECK_HEARD_MS : RECHECK_UNHEARD_MS;
          // Just past its end, the ticket is read again to say EXPIRED.
          const untilEnd = Math.max(0, expiresAt.getTime() - Date.now() + 50);
          const ms =
            failures > 0 ? Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1)) : Math.min(recheck, untilEnd);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
        if (signal.aborted) return;
        woken = false;
        const previous = status.state;
        try {
          ({ status, expiresAt } = await this.read(em, id, secret, reader));
          failures = 0;
        } catch (error) {
          // Gone (pruned) or its account ended: the end of the stream. Anything else (the
          // database briefly away): read again, later and later, until well past the ticket's end.
          if (error instanceof AppError) return;
          failures++;
          if (Date.now() > expiresAt.getTime() + GIVE_UP_AFTER_END_MS) return;
          continue;
        }
        if (status.state !== previous || status.auth) yield status;
        if (FINAL.has(status.state)) return;
      }
    } finally {
      signal.removeEventListener('abort', leave);
      stopWaiting();
      onEnd?.();
    }
  }

  /**
   * The ticket now, and the handover when it is due. The session handed over is the waiting page's,
   * so its device is the reader's (the page that holds the id and secret), never the phone's that
   * confirmed.
   */
  private async read(
    em: EntityManager,
    id: string,
    secret: string,
    reader: RequestClient,
  ): Promise<{ status: TicketStatus; expiresAt: Date }> {
    if (!UUID.test(id) || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) throw ticketNotFound();
    const secretHash = sha256(secret);
    const row = await LoginTicketRepository.status(em, id, secretHash);
    if (!row) throw ticketNotFound();
    const now = new Date();
    const { expiresAt } = row;
    const state = row.state as LoginTicketState;
    if ((state === 'WAITING' || state === 'SCANNED') && expiresAt <= now) {
      return { status: { state: 'EXPIRED', auth: null }, expiresAt };
    }
    if (state !== 'CONFIRMED' || row.delivered) return { status: { state, auth: null }, expiresAt };
    // Confirmed and not handed over: a session of the user who confirmed, to this caller alone.
    const confirmedAfter = new Date(now.getTime() - this.deps.config.loginTickets.ttlSeconds * 1000);
    if (row.finishedAt && row.finishedAt <= confirmedAfter) {
      return { status: { state: 'EXPIRED', auth: null }, expiresAt };
    }
    const session = this.deps.sessions.prepare(now, reader);
    const audit = AuditLog.loginParams(reader, { kind: row.kind, via: 'login_ticket' });
    const handed = await LoginTicketRepository.handOver(em, {
      id,
      secretHash,
      now,
      confirmedAfter,
      session,
      audit,
    });
    if (!handed) {
      // Another request took it first, or the account ended since the confirmation.
      const again = await LoginTicketRepository.status(em, id, secretHash);
      if (again?.delivered) return { status: { state: 'CONFIRMED', auth: null }, expiresAt };
      if (again?.userDisabled) throw new UserDisabledError();
      throw new UnauthenticatedError('The account that confirmed this login has ended: sign in again');
    }
    this.deps.wakeups.wake(id);
    this.deps.onLogin(row.kind);
    const tokens = await this.deps.sessions.issue(handed.user.id, session, now);
    return {
      status: {
        state: 'CONFIRMED',
        auth: {
          ...tokens,
          user: handed.user,
          isNewUser: false,
          otherAccountExists: handed.otherAccountExists,
        },
      },
      expiresAt,
    };
  }

  private checkScene(scene: string): void {
    if (!SCENE.test(scene)) {
      throw new BadUserInputError(
        'scene must be 1 to 32 letters or digits (the options.scene the page got)',
        'scene',
      );
    }
  }

  /** Why a move found nothing to change, without telling a stranger that the ticket exists. */
  private refusal(row: SceneRow | undefined, userId: string): AppError {
    if (!row || !row.ofApp) return ticketNotFound();
    if (row.scannedBy !== null && row.scannedBy !== userId) return ticketNotFound();
    return ticketOver();
  }
}
