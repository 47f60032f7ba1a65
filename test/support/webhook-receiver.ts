import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One POST the receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** Parsed body. */
  event: { type: string; timestamp: string; data: { userId: string; [k: string]: unknown } };
  receivedAt: number;
  /** What the receiver answered: a status, or 'hang' (never answered). */
  answer: number | 'hang';
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: Received[];
  /** Decides each answer; 204 unless set. */
  answer: (event: Received['event'], headers: IncomingHttpHeaders) => number | 'hang';
  /** Requests left hanging and not yet closed by their sender. */
  hanging(): number;
  close(): Promise<void>;
}

/** A webhook endpoint on loopback (node:http), as a consumer would run one. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const held = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    answer: () => 204,
    hanging: () => held.size,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body) as Received['event'];
      const answer = receiver.answer(event, req.headers);
      receiver.received.push({ headers: req.headers, body, event, receivedAt: Date.now(), answer });
      if (answer === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      res.statusCode = answer;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (receiver as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}

/** Verifies a delivery as a consumer does: the standardwebhooks package, the raw body, the three headers. */
export function verifier(secret: string): (received: Received) => unknown {
  return (received) => new Webhook(secret).verify(received.body, received.headers as Record<string, string>);
}
