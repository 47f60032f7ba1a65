/**
 * `npm run keys:rotate`: makes a new signing key current now and prints its kid. The old key stays
 * published until every token it signed has expired; running instances switch within
 * SIGNING_KEY_REFRESH_SECONDS. Reads DATABASE_URL (or the embedded database, only while the server
 * is stopped) and AUTH_SECRET (in development without it, the data directory's kept secret), which
 * must be the servers' own: it seals the new key, and it must open the current one unless
 * `--new-auth-secret` says the secret is being changed.
 */
import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { SecretBox } from '../crypto/secret-box.js';
import { keepDevelopmentSecret } from '../development-secret.js';
import { openDatabase } from '../db/database.js';
import { SigningKeyRepository } from './signing-key.repository.js';
import { newSealedSigningKey, SigningKeys } from './signing-keys.js';

async function main(): Promise<void> {
  const { config, file } = await keepDevelopmentSecret(loadConfig());
  if (config.authSecretGenerated && file === undefined) {
    throw new ConfigError('AUTH_SECRET: must be set to the servers’ AUTH_SECRET (it seals the new key)');
  }
  const box = new SecretBox(config.authSecret);
  const window = SigningKeys.publicationWindowSeconds({
    ...config.signingKeys,
    accessTokenTtlSeconds: config.session.accessTokenTtlSeconds,
  });
  const db = await openDatabase(config.database);
  try {
    // A key sealed with the wrong secret would lock every running instance out of signing.
    const [current] = await SigningKeyRepository.published(db.orm.em.fork(), window);
    if (current?.current && !process.argv.includes('--new-auth-secret')) {
      try {
        box.open(current.private_key);
      } catch {
        throw new ConfigError(
          `AUTH_SECRET: does not open the current signing key (kid ${current.kid}): run with the servers' ` +
            'AUTH_SECRET, or, when changing AUTH_SECRET with every instance stopped, add --new-auth-secret',
        );
      }
    }
    const kid = await SigningKeyRepository.rotateIf(
      db.orm.em.fork(),
      () => true,
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
