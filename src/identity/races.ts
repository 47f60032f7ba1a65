import { DeadlockException, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * What a transaction read changed under it before it could lock it (a login method moved by a
 * merge, a user deleted): the transaction is rolled back and run again, and finds the new state.
 */
export class LostRace extends Error {
  override name = 'LostRace';
}

/** Attempts of a transaction that lost a race (a unique violation, a LostRace, a deadlock). */
const RACE_ATTEMPTS = 4;

/**
 * Runs `work` in a transaction of a fresh fork, again when it lost a race to a concurrent change
 * (docs/architecture.md, "Account lifecycle"): a unique violation (two first logins of one person), a
 * LostRace, or a deadlock PostgreSQL broke. Each attempt starts from an empty identity map.
 */
export async function retryingRaces<T>(
  em: EntityManager,
  work: (tx: EntityManager) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await em.fork({ clear: true }).transactional(work);
    } catch (error) {
      const lost =
        error instanceof UniqueConstraintViolationException ||
        error instanceof LostRace ||
        error instanceof DeadlockException;
      if (lost && attempt < RACE_ATTEMPTS) continue;
      throw error;
    }
  }
}
