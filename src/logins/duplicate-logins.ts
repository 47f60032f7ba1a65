import { sha256 } from '../crypto/keys.js';

/**
 * Logins under way, by their exact input: a second identical submission (double click, WeChat
 * redirecting twice) joins the first instead of spending the single-use code again: one exchange
 * for both. Once settled, a resubmission asks WeChat (and hears 40163). Per process: two instances
 * each spend the code once.
 */
export class DuplicateLogins<Result> {
  private readonly inFlight = new Map<string, Promise<Result>>();

  /** The result of `run`, or of the identical run under way (`joined`: this caller did not run it). */
  async join(
    kind: string,
    input: object,
    run: () => Promise<Result>,
  ): Promise<{ result: Result; joined: boolean }> {
    const key = sha256(`${kind}\n${JSON.stringify(input)}`);
    const running = this.inFlight.get(key);
    if (running) return { result: await running, joined: true };
    const promise = run().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return { result: await promise, joined: false };
  }
}
