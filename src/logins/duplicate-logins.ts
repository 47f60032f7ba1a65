import { sha256 } from '../crypto/keys.js';

/**
 * Logins under way, by their exact input: a second identical submission (double click, WeChat
 * redirecting twice) joins the first instead of spending the single-use code again, so both get
 * the same answer from one exchange. Once settled, a resubmission asks WeChat (and hears 40163).
 * Per process: two instances each spend the code once.
 */
export class DuplicateLogins<Result> {
  private readonly inFlight = new Map<string, Promise<Result>>();

  join(kind: string, input: object, run: () => Promise<Result>): Promise<Result> {
    const key = sha256(`${kind}\n${JSON.stringify(input)}`);
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = run().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }
}
