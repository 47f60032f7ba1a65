/* eslint-disable @typescript-eslint/no-explicit-any -- frames are whatever the server sent */
import WebSocket from 'ws';
import { socketUrl } from './subscriptions.js';

/** A graphql-transport-ws socket driven frame by frame (what an attacker's script does). */
export interface RawSocket {
  ws: WebSocket;
  /** Every message received, parsed. */
  messages: Record<string, any>[];
  /** Resolves with the close code. */
  closed: Promise<number>;
  send(message: unknown): void;
  /** Several frames written back to back in one go. */
  sendAll(messages: unknown[]): void;
  /** Resolves when `predicate` holds for the received messages (or rejects after `ms`). */
  until(predicate: (messages: Record<string, any>[]) => boolean, ms?: number): Promise<void>;
  /** Terminates the TCP connection without a close frame. */
  kill(): void;
}

export async function rawSocket(
  serverUrl: string,
  { init = true, headers = {} }: { init?: boolean; headers?: Record<string, string> } = {},
): Promise<RawSocket> {
  const ws = new WebSocket(socketUrl(serverUrl), 'graphql-transport-ws', { headers });
  const messages: Record<string, any>[] = [];
  const listeners = new Set<() => void>();
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as Record<string, any>);
    for (const l of listeners) l();
  });
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, r) => reject(new Error(`upgrade refused: ${r.statusCode}`)));
    ws.once('error', reject);
  });
  const socket: RawSocket = {
    ws,
    messages,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    sendAll: (all) => {
      for (const m of all) ws.send(JSON.stringify(m));
    },
    until: (predicate, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(messages)) return resolve();
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out; got ${JSON.stringify(messages).slice(0, 2000)}`));
        }, ms);
        const check = () => {
          if (!predicate(messages)) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        void closed.then(() => check());
      }),
    kill: () => ws.terminate(),
  };
  if (init) {
    socket.send({ type: 'connection_init' });
    await socket.until((m) => m.some((x) => x.type === 'connection_ack'));
  }
  return socket;
}

export const TICKET_SUBSCRIPTION = `subscription ($id: ID!, $secret: String!) {
  loginTicket(id: $id, secret: $secret) { state auth { accessToken user { id } } }
}`;

/** Timers pending in this process (the server runs in-process in these tests). */
export const pendingTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
