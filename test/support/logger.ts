import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/server/logger.js';

export interface CapturedLog {
  readonly logger: Logger;
  /** Every line written so far, raw JSON text. */
  readonly lines: string[];
  text(): string;
}

/** The real logger, writing into memory so tests can read (and scan) what it wrote. */
export function captureLog(level = 'trace'): CapturedLog {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines, text: () => lines.join('\n') };
}
