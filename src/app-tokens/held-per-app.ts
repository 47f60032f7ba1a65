import type { Logger } from 'pino';
import type { SecretBox } from '../crypto/secret-box.js';

/** A value with less than this left is fetched again (WeChat's app tokens and tickets live 7200 s). */
export const REFRESH_AHEAD_SECONDS = 300;
/** Each process re-reads the shared row at least this often, to pick up a value another instance replaced. */
const RECHECK_MS = 60_000;

/**
 * What one process holds of a value every instance shares through a row per appid (an app access
 * token, a jsapi_ticket): the value while it is fresh and recently checked, and one flight per key
 * for what fetches or reads it, so concurrent callers wait for the same one.
 */
export class HeldPerApp {
  private readonly held = new Map<string, { value: string; refreshAt: number; recheckAt: number }>();
  private readonly flights = new Map<string, Promise<string>>();

  /** The value held for the app, unless it is due for refresh or for a re-read of its row. */
  fresh(appId: string): string | undefined {
    const held = this.held.get(appId);
    const now = performance.now();
    return held && now < held.refreshAt && now < held.recheckAt ? held.value : undefined;
  }

  /** Holds `value`, which has `expiresIn` seconds left; returns it. */
  hold(appId: string, value: string, expiresIn: number): string {
    const now = performance.now();
    this.held.set(appId, {
      value,
      refreshAt: now + Math.max(0, expiresIn - REFRESH_AHEAD_SECONDS) * 1000,
      recheckAt: now + RECHECK_MS,
    });
    return value;
  }

  /** `run`, unless a run of the same key is under way in this process: then that one's answer. */
  once(key: string, run: () => Promise<string>): Promise<string> {
    let flight = this.flights.get(key);
    if (!flight) {
      flight = run().finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    return flight;
  }
}

/**
 * A sealed value of a shared row, opened; undefined (and a warning naming `what`, never the value)
 * when this AUTH_SECRET cannot open it, so that a new one is fetched.
 */
export function openSealed(
  box: SecretBox,
  logger: Logger,
  appId: string,
  sealed: string,
  what: string,
): string | undefined {
  try {
    return box.open(sealed);
  } catch {
    logger.warn({ appId }, `the stored ${what} cannot be opened (another AUTH_SECRET?): fetching a new one`);
    return undefined;
  }
}
