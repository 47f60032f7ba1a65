import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { Client } from './support/client.js';
import { clientsOf, startInstances, type Instances } from './support/instances.js';
import { eventually } from './support/eventually.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

/** Two server processes on one PostgreSQL sending one outbox to one endpoint. */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let receiver: WebhookReceiver;
let clients: Client[] = [];

let instances: Instances | undefined;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  instances = await startInstances({
    RATE_LIMIT_IP_PER_MINUTE: '10000',
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'warn',
  });
  clients = clientsOf(instances);
}, 120_000);

afterAll(async () => {
  await instances?.stop();
  await receiver?.close();
});

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

describe('webhooks from two instances', () => {
  it('deliver the events of 60 first logins made on both, none lost, none twice', async () => {
    // loginAs expects each answer without errors.
    const logins = await Promise.all(
      Array.from(
        { length: 60 },
        async (_, i) => (await clients[i % 2]!.loginAs('mini', `many-${i}`)).user.id,
      ),
    );
    await eventually(async () =>
      expect(new Set(receiver.received.map((r) => r.event.data.userId)).size).toBe(60),
    );
    // Anything sent twice would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.received.map((r) => r.event.data.userId).sort()).toEqual([...logins].sort());
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(60);
    const webhook = new Webhook(SECRET);
    for (const r of receiver.received) {
      expect(webhook.verify(r.body, r.headers as Record<string, string>)).toMatchObject({
        type: 'user.created',
      });
    }
    const latencies = receiver.received
      .map((r) => r.receivedAt - Date.parse(r.event.timestamp))
      .sort((a, b) => a - b);
    process.stderr.write(
      `webhooks: commit-to-receipt latency over ${latencies.length} events: p50 ${percentile(latencies, 0.5)} ms, ` +
        `p99 ${percentile(latencies, 0.99)} ms\n`,
    );
  });

  it('drain a backlog of 500 events between them, none lost, none twice', async () => {
    const count = 500;
    const before = receiver.received.length;
    const started = Date.now();
    await clients[0]!.sql(
      `insert into webhook_delivery (message_id, endpoint, type, user_id, body, next_attempt_at, created_at)
       select 'msg_backlog' || i, ?, 'user.updated', u,
              json_build_object('type', 'user.updated', 'timestamp', now(),
                                'data', json_build_object('userId', u, 'changed', json_build_array('nickname')))::text,
              now(), now()
         from generate_series(1, ?::int) i, lateral (select gen_random_uuid() as u) g`,
      [receiver.url, count],
    );
    await eventually(
      async () => expect(receiver.received.length - before).toBeGreaterThanOrEqual(count),
      100_000,
    );
    const seconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const ids = receiver.received.slice(before).map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);
    process.stderr.write(
      `webhooks: ${count} events drained by two instances in ${seconds.toFixed(2)} s ` +
        `(${Math.round(count / seconds)} events/s, including up to 1 s until the first poll)\n`,
    );
  }, 120_000);
});
