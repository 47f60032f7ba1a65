/**
 * `npm run keys:rotate`: makes a new signing key and prints its kid. The key is published at once
 * and signs from SigningKeys.publishAheadSeconds later (three refresh intervals), so every instance
 * and every cached JWKS lists it before a token of it exists; `--now` makes it sign at once (a
 * leaked key, or every instance stopped). The old key stays published until every token it signed
 * has expired. Reads DATABASE_URL (or the embedded database, only while the server is stopped),
 * AUTH_SECRET (in development without it, the data directory's kept secret), which seals the new
 * key, and AUTH_SECRET_PREVIOUS: one of them must open the current key unless `--new-auth-secret`
 * says none can.
 */
import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { SecretBox } from '../crypto/secret-box.js';
import { keepDevelopmentSecret } from '../development-secret.js';
import { openDatabase } from '../db/database.js';
import { SigningKeyRepository } from './signing-key.repository.js';
import { newSealedSigningKey, SigningKeys } from './signing-keys.js';

async function main(): Promise<void> {
  const flags = new Set(process.argv.slice(2));
  const unknown = [...flags].filter((flag) => flag !== '--now' && flag !== '--new-auth-secret');
  if (unknown.length > 0) {
    throw new ConfigError(`unknown option ${unknown.join(' ')} (options: --now, --new-auth-secret)`);
  }
  const { config, file } = await keepDevelopmentSecret(loadConfig());
  if (config.authSecretGenerated && file === undefined) {
    throw new ConfigError('AUTH_SECRET: must be set to the servers’ AUTH_SECRET (it seals the new key)');
  }
  const box = new SecretBox(config.authSecret, config.authSecretPrevious);
  const settings = { ...config.signingKeys, accessTokenTtlSeconds: config.session.accessTokenTtlSeconds };
  const window = SigningKeys.publicationWindowSeconds(settings);
  // A new AUTH_SECRET opens nothing the instances hold: its key must sign from their first start.
  const now = flags.has('--now') || flags.has('--new-auth-secret');
  const lead = now ? 0 : SigningKeys.publishAheadSeconds(settings);
  const db = await openDatabase(config.database);
  try {
    // A key sealed with the wrong secret would lock every running instance out of signing.
    const [current] = await SigningKeyRepository.published(db.orm.em.fork(), window);
    if (current?.current && !flags.has('--new-auth-secret')) {
      try {
        box.open(current.privateKey);
      } catch {
        throw new ConfigError(
          `AUTH_SECRET: does not open the current signing key (kid ${current.kid}), nor does ` +
            "AUTH_SECRET_PREVIOUS: run with the servers' AUTH_SECRET, or, when changing AUTH_SECRET " +
            'with every instance stopped, add --new-auth-secret',
        );
      }
    }
    const kid = await SigningKeyRepository.rotateIf(
      db.orm.em.fork(),
      () => lead,
      () => newSealedSigningKey(box),
      window,
    );
    process.stdout.write(`${kid}\n`);
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`keys:rotate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
