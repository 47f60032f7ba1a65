import type { KeyObject } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { ConfigError } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { ALGORITHM, generateSigningKeyPair, importPrivateKey, importPublicKey } from './key-pair.js';
import type { PublicJwk } from './signing-key.entity.js';
import {
  SigningKeyRepository,
  type LiveKeys,
  type NewSigningKey,
  type SigningKeyRow,
} from './signing-key.repository.js';

/** The AUTH_SECRET cannot open the current signing key, in production: the start stops with this line. */
export class SigningKeySecretMismatch extends ConfigError {
  override name = 'SigningKeySecretMismatch';
}

export interface SigningKeysSettings {
  rotationDays: number;
  refreshSeconds: number;
  accessTokenTtlSeconds: number;
  /** Production refuses a current key it cannot open; development makes a new one. */
  isProduction: boolean;
}

/** The key access tokens are signed with now. */
export interface CurrentKey {
  kid: string;
  key: KeyObject;
  /** Which secret opened it: 0 for AUTH_SECRET, 1… for AUTH_SECRET_PREVIOUS's. */
  secret: number;
}

/** A public key as the JWKS lists it. */
export type PublishedJwk = PublicJwk & { kid: string; alg: typeof ALGORITHM; use: 'sig' };

/**
 * An instance signs with the key it last read as current until its next reload succeeds. A reload
 * is due every refreshSeconds; one that is this late (at most 30 s, at most refreshSeconds) happens
 * before the next signature or JWKS answer instead, so no instance signs with a retired key, or
 * serves a JWKS without the upcoming key, longer than refreshSeconds + this.
 */
const staleGraceSeconds = (refreshSeconds: number) => Math.min(30, refreshSeconds);
/** Clocks of instances and the database may disagree by this much. */
const CLOCK_SKEW_SECONDS = 60;
/** A token naming a kid we do not know reloads the keys at most this often. */
const UNKNOWN_KID_RELOAD_MS = 5_000;
/** An overdue JWKS answer retries a failed reload at most this often. */
const JWKS_RETRY_MS = 1_000;
/** Our kids are JWK thumbprints (SHA-256, base64url): anything else is not worth a reload. */
const KID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The ES256 keys of access tokens, kept in memory and shared by every instance through the
 * signing_key table: the current key (its private half opened with AUTH_SECRET) signs, every
 * published key verifies. Each instance re-reads the table every refreshSeconds, rotating when the
 * current key is older than rotationDays (once across instances, under an advisory lock). A
 * retired key stays published until every token it may have signed has expired: see
 * publicationWindowSeconds.
 */
export class SigningKeys {
  private current: CurrentKey | undefined;
  /** The kid of a current key this AUTH_SECRET cannot open (logged once). */
  private unopenedKid: string | undefined;
  /** Keys whose secret this instance has already warned about. */
  private readonly warned = new Set<string>();
  private publicKeys = new Map<string, { jwk: PublishedJwk; key: KeyObject }>();
  /** The published keys' rows (their private halves sealed; opened only when asked: openPublished). */
  private publishedRows: SigningKeyRow[] = [];
  /** The current kid, then the published ones: see publishedVersion. */
  private version = '';
  private jwksBody = '{"keys":[]}';
  /** When the last successful reload started (its reads are at least this fresh). */
  private loadedAt = Number.NEGATIVE_INFINITY;
  private lastReloadStart = Number.NEGATIVE_INFINITY;
  private reloading: Promise<void> | undefined;
  private unknownKidReload: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly orm: MikroORM,
    private readonly box: SecretBox,
    private readonly settings: SigningKeysSettings,
    private readonly logger: Logger,
  ) {}

  /**
   * Reads the keys, making the first one (or a rotation that is due), then re-reads them every
   * refreshSeconds. Production refuses to start when AUTH_SECRET cannot open the current key;
   * development replaces it with a new key (AUTH_SECRET is random per start there).
   */
  static async start(
    orm: MikroORM,
    box: SecretBox,
    settings: SigningKeysSettings,
    logger: Logger,
  ): Promise<SigningKeys> {
    const keys = new SigningKeys(orm, box, settings, logger);
    await keys.reload({ starting: true });
    keys.schedule();
    return keys;
  }

  /**
   * How long a retired key stays published: an instance may sign with it until its next reload
   * (refreshSeconds, plus a late one's grace), and a token lives accessTokenTtlSeconds after that.
   */
  static publicationWindowSeconds(
    settings: Omit<SigningKeysSettings, 'isProduction' | 'rotationDays'>,
  ): number {
    return (
      settings.refreshSeconds +
      staleGraceSeconds(settings.refreshSeconds) +
      settings.accessTokenTtlSeconds +
      CLOCK_SKEW_SECONDS
    );
  }

  /**
   * How long a new key is published before it signs: every instance reloads (and lists it in its
   * JWKS) within refreshSeconds plus a late reload's grace, and a JWKS cached just before then
   * expires within its max-age; three refresh intervals cover both. A verifier that fetched the
   * JWKS from any instance therefore knows a key before it sees a token of it.
   */
  static publishAheadSeconds(settings: Pick<SigningKeysSettings, 'refreshSeconds'>): number {
    return 3 * settings.refreshSeconds;
  }

  /** The key to sign with now; reloads first when the last reload is overdue. */
  async signingKey(): Promise<CurrentKey> {
    await this.freshEnough();
    if (!this.current) {
      throw new Error(
        'no signing key to sign with: the current one was sealed with another AUTH_SECRET (see the log)',
      );
    }
    return this.current;
  }

  /** The public key of a published kid; an unknown one reloads the keys (rate-limited) before saying no. */
  async verificationKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (kid === undefined) return undefined;
    const known = this.publicKeys.get(kid);
    if (known || !KID_SHAPE.test(kid)) return known?.key;
    await this.reloadForUnknownKid();
    return this.publicKeys.get(kid)?.key;
  }

  /**
   * The JWKS document, ready to send (the current key first, then the upcoming one and every key
   * that may have signed a live token), and how long it may be cached. Answered from memory: when
   * the last reload is overdue, one starts in the background (while they fail, at most one a
   * second however many ask). The max-age counts down from the last successful reload, so no
   * cached copy outlives refreshSeconds past the reading it shows: a key published three refresh
   * intervals before it signs is in every copy a verifier may still use by then.
   */
  jwks(): { body: string; maxAgeSeconds: number } {
    const ageMs = performance.now() - this.loadedAt;
    if (this.overdue() && !this.reloading && performance.now() - this.lastReloadStart >= JWKS_RETRY_MS) {
      this.reload({ starting: false }).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'signing keys: reload failed'),
      );
    }
    const maxAgeSeconds = Math.max(0, Math.floor((this.settings.refreshSeconds * 1000 - ageMs) / 1000));
    return { body: this.jwksBody, maxAgeSeconds };
  }

  /**
   * The published kids, current first: what changes when a key begins, is published or retires.
   * A holder of openPublished()'s keys asks for them again when this changes.
   */
  publishedVersion(): string {
    return this.version;
  }

  /**
   * The current key (it signs) and every other published key these secrets open (they only
   * verify): for a signer that must also check what an earlier key signed (the OpenID Connect
   * provider, an id_token_hint). Opens them now: call it when publishedVersion() changes.
   */
  async openPublished(): Promise<{ current: CurrentKey; others: CurrentKey[] }> {
    const current = await this.signingKey();
    const others: CurrentKey[] = [];
    for (const row of this.publishedRows) {
      // One sealed with a secret this instance does not have stays out: it verifies nothing here.
      const opened = row.kid === current.kid ? undefined : await this.open(row);
      if (opened) others.push(opened);
    }
    return { current, others };
  }

  /** Reloads when overdue (see overdue()). */
  private async freshEnough(): Promise<void> {
    if (this.overdue()) await this.reload({ starting: false });
  }

  /** The last successful reload is older than a refresh interval and its grace. */
  private overdue(): boolean {
    const { refreshSeconds } = this.settings;
    return performance.now() - this.loadedAt > (refreshSeconds + staleGraceSeconds(refreshSeconds)) * 1000;
  }

  /** Stops the periodic reload and waits for one in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.reloading?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.reload({ starting: false })
        .catch((error: unknown) => this.logger.warn({ err: error }, 'signing keys: reload failed'))
        .finally(() => this.schedule());
    }, this.settings.refreshSeconds * 1000);
    this.timer.unref();
  }

  /**
   * Reloads once (shared by every caller, at most one per UNKNOWN_KID_RELOAD_MS), so a token signed
   * by a key made a moment ago on another instance is not refused.
   */
  private reloadForUnknownKid(): Promise<void> {
    // A reload ran a moment ago: the kid is not ours (forged, or from another issuer). Not waiting
    // keeps a flood of made-up kids from holding requests open.
    if (performance.now() - this.lastReloadStart < UNKNOWN_KID_RELOAD_MS || this.closed) {
      return Promise.resolve();
    }
    this.unknownKidReload ??= this.reload({ starting: false })
      .catch((error: unknown) => this.logger.warn({ err: error }, 'signing keys: reload failed'))
      .finally(() => {
        this.unknownKidReload = undefined;
      });
    return this.unknownKidReload;
  }

  /** One reload at a time; callers during one share it. */
  private reload(options: { starting: boolean }): Promise<void> {
    this.reloading ??= this.load(options).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async load({ starting }: { starting: boolean }): Promise<void> {
    // performance.now(): a monotonic clock, so a wall-clock step cannot make old keys look fresh.
    const startedAt = performance.now();
    this.lastReloadStart = startedAt;
    const em = this.orm.em.fork();
    const window = SigningKeys.publicationWindowSeconds(this.settings);
    const rotationSeconds = this.settings.rotationDays * 86_400;
    const publishAhead = SigningKeys.publishAheadSeconds(this.settings);
    // The first key signs at once (nothing signs before it); a routine rotation is planned when the
    // newest key (current, or one already upcoming) is old enough, and begins after publishAhead.
    const plan = ({ newest, current }: LiveKeys): number | null => {
      if (!current) return 0;
      return newest && newest.ageSeconds >= rotationSeconds ? publishAhead : null;
    };

    let rows = await SigningKeyRepository.published(em, window);
    const existing = rows.find((row) => row.current);
    const newest = rows.find((row) => row.upcoming) ?? existing;
    // In production, an instance whose secrets cannot open the current key never rotates: its new
    // key would be one every rightly configured instance cannot open.
    const mayRotate = !existing || !this.settings.isProduction || (await this.open(existing)) !== undefined;
    if (mayRotate && plan({ newest, current: existing }) !== null) {
      const kid = await SigningKeyRepository.rotateIf(em, plan, () => newSealedSigningKey(this.box), window);
      if (kid) {
        const beginsInSeconds = existing ? publishAhead : 0;
        this.logger.info({ kid, beginsInSeconds }, 'signing keys: a new key is published');
      }
      rows = await SigningKeyRepository.published(em, window);
    }

    let current = rows.find((row) => row.current)!;
    let opened = await this.open(current);
    if (!opened && starting) {
      if (this.settings.isProduction) {
        throw new SigningKeySecretMismatch(
          `AUTH_SECRET: cannot open the current signing key (kid ${current.kid}), nor can AUTH_SECRET_PREVIOUS: ` +
            'it was sealed with another secret; start with that one (or list it in AUTH_SECRET_PREVIOUS), ' +
            'or run `npm run keys:rotate -- --new-auth-secret` with this one',
        );
      }
      this.logger.warn(
        { kid: current.kid },
        'signing keys: the current key was sealed with another AUTH_SECRET (in development: a new ' +
          'or deleted auth-secret file, or AUTH_SECRET changed): making a new one; tokens of the old ' +
          'key stay valid until they expire',
      );
      // Nothing here can sign with the current key: its replacement signs at once (unless another
      // instance starting with this secret has replaced it already).
      await SigningKeyRepository.rotateIf(
        em,
        ({ current: live }) => (live && this.canOpen(live) ? null : 0),
        () => newSealedSigningKey(this.box),
        window,
      );
      rows = await SigningKeyRepository.published(em, window);
      current = rows.find((row) => row.current)!;
      opened = await this.open(current);
      if (!opened) throw new Error('signing keys: the new current key cannot be opened either');
    }

    await this.publish(rows);
    if (opened) {
      this.current = opened;
      this.unopenedKid = undefined;
      this.warnOfSecrets(rows, opened);
    } else {
      // Running, and another instance made a key these secrets cannot open: sign nothing rather
      // than go on with a retired key nobody will publish for long.
      if (this.unopenedKid !== current.kid) {
        this.logger.error(
          { kid: current.kid },
          'signing keys: the current key was sealed with another AUTH_SECRET: this instance cannot ' +
            'sign access tokens; give every instance the same AUTH_SECRET (or list it in AUTH_SECRET_PREVIOUS)',
        );
      }
      this.unopenedKid = current.kid;
      this.current = undefined;
    }
    this.version = [this.current?.kid ?? '', ...[...this.publicKeys.keys()].sort()].join(' ');
    this.loadedAt = startedAt;
  }

  /**
   * Once per key: says so when the current key opened only with a previous secret (a rotation
   * seals the next one with AUTH_SECRET), and, before it signs, when an upcoming key opens with
   * none of ours (this instance will stop signing when it begins).
   */
  private warnOfSecrets(rows: SigningKeyRow[], current: CurrentKey): void {
    if (current.secret > 0 && !this.warned.has(current.kid)) {
      this.warned.add(current.kid);
      this.logger.info(
        { kid: current.kid },
        'signing keys: the current key opens with AUTH_SECRET_PREVIOUS, not AUTH_SECRET; the next ' +
          'rotation (or `npm run keys:rotate`) seals a new one with AUTH_SECRET',
      );
    }
    for (const row of rows) {
      if (!row.upcoming || this.warned.has(row.kid) || this.canOpen(row)) continue;
      this.warned.add(row.kid);
      this.logger.error(
        { kid: row.kid },
        'signing keys: the upcoming key was sealed with another AUTH_SECRET: this instance will stop ' +
          'signing access tokens when it begins; give every instance the same AUTH_SECRET',
      );
    }
  }

  private canOpen(row: SigningKeyRow): boolean {
    try {
      this.box.open(row.privateKey);
      return true;
    } catch {
      return false;
    }
  }

  /** The current key ready to sign, or undefined when none of our secrets opens it. */
  private async open(row: SigningKeyRow): Promise<CurrentKey | undefined> {
    if (this.current?.kid === row.kid) return this.current;
    let privateJwk: JWK;
    let secret: number;
    try {
      const opened = this.box.openWith(row.privateKey);
      privateJwk = JSON.parse(opened.plain) as JWK;
      secret = opened.secret;
    } catch {
      return undefined;
    }
    return { kid: row.kid, key: importPrivateKey(privateJwk), secret };
  }

  /** Imports the public keys not seen before, drops the unpublished ones, renders the JWKS once. */
  private async publish(rows: SigningKeyRow[]): Promise<void> {
    const next = new Map<string, { jwk: PublishedJwk; key: KeyObject }>();
    for (const row of rows) {
      const jwk: PublishedJwk = {
        kty: 'EC',
        crv: 'P-256',
        x: row.publicJwk.x,
        y: row.publicJwk.y,
        kid: row.kid,
        alg: ALGORITHM,
        use: 'sig',
      };
      next.set(row.kid, this.publicKeys.get(row.kid) ?? { jwk, key: importPublicKey(row.publicJwk) });
    }
    this.publicKeys = next;
    this.publishedRows = rows;
    this.jwksBody = JSON.stringify({ keys: [...next.values()].map((entry) => entry.jwk) });
  }
}

/** A new ES256 key with its private half sealed by AUTH_SECRET, ready for the table. */
export async function newSealedSigningKey(box: SecretBox): Promise<NewSigningKey> {
  const pair = await generateSigningKeyPair();
  return {
    kid: pair.kid,
    publicJwk: pair.publicJwk,
    sealedPrivateKey: box.seal(JSON.stringify(pair.privateJwk)),
  };
}
