import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';

/** What a loginTicket subscription delivered: each status, and how it ended. */
export interface Watch {
  /** Every status received so far, in order. */
  readonly statuses: { state: string; auth: { accessToken: string; user: { id: string } } | null }[];
  /** Resolves when the subscription ends: with its errors' codes when it ended with an error. */
  readonly ended: Promise<{ codes: string[] }>;
  /** Resolves when `n` statuses have arrived. */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

const LOGIN_TICKET = `subscription ($id: ID!, $secret: String!) {
  loginTicket(id: $id, secret: $secret) { state auth { accessToken user { id } } }
}`;

/** The graphql-ws URL of a server's /graphql. */
export const socketUrl = (serverUrl: string) => `${serverUrl.replace(/^http/, 'ws')}/graphql`;

/** A graphql-ws client of the server at `serverUrl`, as a browser's GraphQLWsLink would open it. */
export function wsClient(serverUrl: string, headers: Record<string, string> = {}): WsClient {
  return createClient({
    url: socketUrl(serverUrl),
    webSocketImpl: class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    },
    retryAttempts: 0,
    lazy: true,
  });
}

/** Subscribes to loginTicket(id, secret) on `client`. */
export function watchTicket(client: WsClient, id: string, secret: string): Watch {
  const statuses: Watch['statuses'] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let unsubscribe = () => {};
  const ended = new Promise<{ codes: string[] }>((resolve) => {
    unsubscribe = client.subscribe<{ loginTicket: Watch['statuses'][number] }>(
      { query: LOGIN_TICKET, variables: { id, secret } },
      {
        next: (result) => {
          if (result.data) statuses.push(result.data.loginTicket);
          if (result.errors) resolve({ codes: result.errors.map((e) => String(e.extensions?.code)) });
          for (const w of waiters.filter((w) => statuses.length >= w.n)) w.resolve();
        },
        error: (error) => {
          const errors = Array.isArray(error) ? (error as { extensions?: { code?: unknown } }[]) : [];
          resolve({
            codes: errors.length
              ? errors.map((e) => String(e.extensions?.code))
              : [String((error as { code?: unknown }).code ?? error)],
          });
        },
        complete: () => resolve({ codes: [] }),
      },
    );
  });
  return {
    statuses,
    ended,
    received: (n) =>
      statuses.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    close: async () => {
      unsubscribe();
      await client.dispose();
    },
  };
}
