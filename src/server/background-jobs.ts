import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import { DEFAULT_BATCH_SIZE, HousekeepingJob, type PruneResult } from '../housekeeping/housekeeping.js';
import { SigningKeys } from '../keys/signing-keys.js';
import type { Metrics } from '../metrics/metrics.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import {
  DEFAULT_WEBHOOK_SETTINGS,
  WebhookWorker,
  type WebhookWorkerSettings,
} from '../webhooks/webhook-worker.js';

/**
 * The signing keys, read before anything else starts (a database whose keys this AUTH_SECRET
 * cannot open stops the start), then re-read every SIGNING_KEY_REFRESH_SECONDS.
 */
export async function startSigningKeys(
  { config, database, logger }: { config: Config; database: Database; logger: Logger },
  box: SecretBox,
): Promise<SigningKeys> {
  return SigningKeys.start(
    database.orm,
    box,
    {
      ...config.signingKeys,
      accessTokenTtlSeconds: config.session.accessTokenTtlSeconds,
      isProduction: config.isProduction,
    },
    logger.child({ component: 'signing-keys' }),
  );
}

/**
 * Stops the signing keys' refresh when the app closes. Registered before every other part: Fastify
 * runs onClose hooks last-registered first, so it stops after everything that signs or publishes
 * with the keys.
 */
export function registerSigningKeyRefresh(app: FastifyInstance, signingKeys: SigningKeys): void {
  app.addHook('onClose', async () => {
    await signingKeys.close();
  });
}

export interface BackgroundJobsDeps {
  config: Config;
  database: Database;
  logger: Logger;
  metrics: Metrics;
  outbox: WebhookOutbox;
  /** Tests shorten the retry schedule and the timeout; the defaults are docs/webhooks.md's. */
  webhookSettings?: Partial<Omit<WebhookWorkerSettings, 'secret'>>;
  /** Told what each housekeeping pass of this instance deleted (for metrics). */
  onHousekeepingPass?: (result: PruneResult) => void;
}

/**
 * The loops every instance runs beside the requests: the webhook worker, which sends the outbox
 * (none without WEBHOOK_URLS: nothing to send), and housekeeping (an advisory lock lets one pass
 * run at a time across instances). Both start when the app is ready and stop when it closes,
 * housekeeping first, before the services and the signing keys (registered after them).
 */
export function registerBackgroundJobs(
  app: FastifyInstance,
  { config, database, logger, metrics, outbox, webhookSettings, onHousekeepingPass }: BackgroundJobsDeps,
): void {
  const webhooks =
    config.webhooks.urls.length > 0
      ? new WebhookWorker(
          database.orm,
          outbox,
          { ...DEFAULT_WEBHOOK_SETTINGS, ...webhookSettings, secret: config.webhooks.secret },
          logger.child({ component: 'webhooks' }),
          (outcome) => metrics.webhookDeliveries.inc({ outcome }),
        )
      : undefined;
  const housekeeping = new HousekeepingJob(
    database.orm,
    { ...config.housekeeping, batchSize: DEFAULT_BATCH_SIZE },
    logger.child({ component: 'housekeeping' }),
    (result) => {
      metrics.housekeepingPasses.inc({ result: result.skipped ? 'skipped' : 'done' });
      for (const [table, rows] of Object.entries(result.deleted ?? {})) {
        metrics.housekeepingDeleted.inc({ table }, rows);
      }
      onHousekeepingPass?.(result);
    },
  );
  app.addHook('onReady', async () => {
    webhooks?.start();
    housekeeping.start();
  });
  app.addHook('onClose', async () => {
    await housekeeping.close();
    await webhooks?.close();
  });
}
