import { describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { BadUserInputError, RateLimitedError } from '../src/errors.js';
import { registerHttpErrorHandler } from '../src/server/http-errors.js';
import { captureLog } from './support/logger.js';

/** Routes beside /graphql answer domain errors in GraphQL's shape, with an HTTP status that fits. */
describe('HTTP error answers', () => {
  async function answer(error: Error) {
    const log = captureLog('error');
    const app = Fastify({ loggerInstance: log.logger as FastifyBaseLogger });
    registerHttpErrorHandler(app);
    app.get('/fails', async () => {
      throw error;
    });
    try {
      const response = await fetch(`${await app.listen({ host: '127.0.0.1', port: 0 })}/fails`);
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as { errors: { message: string; extensions: unknown }[] },
        log,
      };
    } finally {
      await app.close();
    }
  }

  it('gives a rate-limited client 429, Retry-After and the code with its details', async () => {
    const { status, retryAfter, body } = await answer(new RateLimitedError(42));
    expect(status).toBe(429);
    expect(retryAfter).toBe('42');
    expect(body).toEqual({
      errors: [
        {
          message: 'Too many attempts: try again in 42 s',
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 42 },
        },
      ],
    });
  });

  it('gives bad input 400 with the field', async () => {
    const { status, body } = await answer(new BadUserInputError('code must not be empty', 'code'));
    expect(status).toBe(400);
    expect(body.errors[0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'code' });
  });

  it('answers anything else 500 with no word of its cause, and logs it', async () => {
    const { status, body, log } = await answer(new Error('connection to 10.0.0.7:5432 refused'));
    expect(status).toBe(500);
    expect(body).toEqual({
      errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    expect(log.text()).toContain('10.0.0.7');
  });
});
