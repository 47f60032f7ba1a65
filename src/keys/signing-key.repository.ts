import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, one, sql } from '../db/sql.js';
import type { PublicJwk } from './signing-key.entity.js';

/**
 * A signing key as read, by the database's clock: `current` signs now (begun, not yet retired),
 * `upcoming` is published but signs only from its `created_at` on; `ageSeconds` is negative for an
 * upcoming key.
 */
export interface SigningKeyRow {
  kid: string;
  publicJwk: PublicJwk;
  /** Sealed. */
  privateKey: string;
  current: boolean;
  upcoming: boolean;
  ageSeconds: number;
}

/** What a rotation writes: the new key, its private half already sealed. */
export interface NewSigningKey {
  kid: string;
  publicJwk: PublicJwk;
  sealedPrivateKey: string;
}

/** The keys a rotation decides on: the newest (current or upcoming) and the current one. */
export interface LiveKeys {
  newest: SigningKeyRow | undefined;
  current: SigningKeyRow | undefined;
}

/** Serialises rotations across every instance and `npm run keys:rotate` (any constant: ours). */
const ROTATION_LOCK = 0x5167_4b65; // "QgKe"

/** Current: begun and not retired. Upcoming: not begun, and not overtaken by a newer key. */
const COLUMNS = `kid, public_jwk as "publicJwk", private_key as "privateKey",
  created_at <= now() and (retired_at is null or retired_at > now()) as current,
  created_at > now() and (retired_at is null or retired_at > created_at) as upcoming,
  extract(epoch from now() - created_at)::float8 as "ageSeconds"`;

/**
 * Keys published: upcoming, current, or retired less than `window` seconds ago. The current key
 * first, then the others newest first (the JWKS order).
 */
const PUBLISHED = sql<'window', SigningKeyRow>(`
  select ${COLUMNS} from signing_key
  where retired_at is null or retired_at > now() - make_interval(secs => :window)
  order by created_at <= now() and (retired_at is null or retired_at > now()) desc, created_at desc`);

/** Keys that sign now or will: the current one and any upcoming, newest first. */
const LIVE = sql<never, SigningKeyRow>(`
  select ${COLUMNS} from signing_key
  where retired_at is null or (retired_at > now() and retired_at > created_at)
  order by created_at desc`);

const LOCK = sql<'lock'>(`select pg_advisory_xact_lock(:lock)`);
/**
 * When the new key begins, read after the lock is held (not the transaction's start, which may be
 * long before when another rotation held the lock): the lead counts from about when it commits.
 */
const BEGINS = sql<'lead', { begins: string }>(
  `select (clock_timestamp() + make_interval(secs => :lead))::text as begins`,
);
/**
 * Every key still signing at the new key's start stops there; an upcoming key the new one
 * overtakes is retired before it begins (never current, still published for the window: an
 * instance that read it as current a moment before this commits may have signed with it).
 */
const RETIRE = sql<'begins'>(`
  update signing_key set retired_at = :begins::timestamptz
  where retired_at is null or retired_at > :begins::timestamptz`);
const INSERT = sql<'kid' | 'jwk' | 'sealed' | 'begins'>(`
  insert into signing_key (kid, public_jwk, private_key, created_at, retired_at)
  values (:kid, :jwk::jsonb, :sealed, :begins::timestamptz, null)`);
const FORGET = sql<'window'>(
  `delete from signing_key where retired_at < now() - make_interval(secs => :window)`,
);

/** The signing_key table: reads, and the one way a key is made. */
export const SigningKeyRepository = {
  async published(em: EntityManager, windowSeconds: number): Promise<SigningKeyRow[]> {
    return execute(em, PUBLISHED, { window: windowSeconds });
  },

  /**
   * Makes a new key under a lock every instance takes, when `plan` (given the live keys as they are
   * under the lock) says so: it returns the seconds until the new key signs (0: now), or null for
   * no rotation. An upcoming key it overtakes never signs. Concurrent callers rotate once: the others see the new key and do nothing. Until
   * then the current key goes on signing; from then on it is retired (and stays published for
   * `windowSeconds`). Forgets keys retired longer ago than that. Returns the new kid, or null.
   */
  async rotateIf(
    em: EntityManager,
    plan: (keys: LiveKeys) => number | null,
    makeKey: () => Promise<NewSigningKey>,
    windowSeconds: number,
  ): Promise<string | null> {
    return em.transactional(async (tx) => {
      await execute(tx, LOCK, { lock: ROTATION_LOCK });
      const live = await execute(tx, LIVE, {});
      const lead = plan({ newest: live[0], current: live.find((row) => row.current) });
      if (lead === null) return null;
      const key = await makeKey();
      const { begins } = await one(tx, BEGINS, { lead });
      await execute(tx, RETIRE, { begins });
      await execute(tx, INSERT, {
        kid: key.kid,
        jwk: JSON.stringify(key.publicJwk),
        sealed: key.sealedPrivateKey,
        begins,
      });
      await execute(tx, FORGET, { window: windowSeconds });
      return key.kid;
    });
  },
};
