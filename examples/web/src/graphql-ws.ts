/**
 * A minimal graphql-ws client: the `graphql-transport-ws` protocol the server speaks on /graphql,
 * one subscription per socket, no reconnection. Enough for this page (no bundler, no npm packages
 * in the browser) to follow a login ticket. Real apps use the `graphql-ws` package's createClient,
 * or Apollo Client's GraphQLWsLink (urql and Relay have theirs), which reconnect, retry and share
 * one socket between subscriptions.
 *
 * The conversation: connection_init → connection_ack; subscribe {id, payload}; the server answers
 * next (a result), error (the subscription refused) or complete (it ended); ping → pong.
 */
import type { TypedDocumentString } from './gql/graphql.js';

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string };
}

export interface SubscriptionSink<TResult> {
  next(result: { data?: TResult | null; errors?: GraphQLErrorShape[] }): void;
  /** The server refused the subscription (its GraphQL errors); the socket is closed. */
  error(errors: GraphQLErrorShape[]): void;
  /** The subscription ended (the server's complete); the socket is closed. */
  complete(): void;
  /** The socket could not open, or closed before the subscription ended: fall back to polling. */
  closed(): void;
}

/** The WebSocket URL of a GraphQL URL (relative to this page or absolute): http → ws, https → wss. */
export function socketUrl(graphqlUrl: string): string {
  const url = new URL(graphqlUrl, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/** Subscribes over a socket of its own; returns what ends the subscription and closes the socket. */
export function subscribe<TResult, TVariables>(
  url: string,
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  sink: SubscriptionSink<TResult>,
): () => void {
  const id = '1';
  let ended = false;
  let socket: WebSocket;
  try {
    socket = new WebSocket(url, 'graphql-transport-ws');
  } catch {
    // A URL or port the browser refuses outright.
    setTimeout(() => sink.closed());
    return () => {};
  }
  const send = (message: object) => socket.send(JSON.stringify(message));
  const end = () => {
    ended = true;
    socket.close(1000, 'done');
  };
  socket.onopen = () => send({ type: 'connection_init' });
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { type: string; id?: string; payload?: unknown };
    if (message.type === 'connection_ack') {
      send({ id, type: 'subscribe', payload: { query: document.toString(), variables } });
    } else if (message.type === 'ping') {
      send({ type: 'pong' });
    } else if (message.id !== id || ended) {
      return;
    } else if (message.type === 'next') {
      sink.next(message.payload as Parameters<SubscriptionSink<TResult>['next']>[0]);
    } else if (message.type === 'error') {
      end();
      sink.error(message.payload as GraphQLErrorShape[]);
    } else if (message.type === 'complete') {
      end();
      sink.complete();
    }
  };
  // An error event is always followed by close: one place says the socket is gone.
  socket.onclose = () => {
    if (ended) return;
    ended = true;
    sink.closed();
  };
  return () => {
    if (ended) return;
    if (socket.readyState === WebSocket.OPEN) send({ id, type: 'complete' });
    end();
  };
}
