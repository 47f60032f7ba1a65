import { describe, expect, it } from '@jest/globals';
import { redactUrl } from '../src/db/database.js';

describe('redactUrl: a database URL as a log line shows it', () => {
  it('masks the password of the user part', () => {
    expect(redactUrl('postgresql://app:s3cret@db.internal:5432/app')).toBe(
      'postgresql://app:***@db.internal:5432/app',
    );
  });

  it('masks libpq password parameters too, and keeps the other parameters', () => {
    const shown = redactUrl('postgres://app@db:5432/app?sslmode=require&password=s3cret&sslpassword=k3y');
    expect(shown).toBe('postgres://app@db:5432/app?sslmode=require&password=***&sslpassword=***');
    expect(shown).not.toContain('s3cret');
    expect(shown).not.toContain('k3y');
  });

  it('leaves a URL without a secret as it is', () => {
    expect(redactUrl('postgresql://app@db:5432/app?sslmode=verify-full')).toBe(
      'postgresql://app@db:5432/app?sslmode=verify-full',
    );
  });
});
