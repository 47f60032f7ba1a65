import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** `postgresql://…` like `databaseUrl`, through the proxy. */
  readonly url: string;
  /** New connections are closed at once and open ones cut: the database is unreachable. */
  refuse(): void;
  /** Connections are accepted but nothing is forwarded any more: the database hangs. */
  blackhole(): void;
  /** Forwards again (connections opened meanwhile are cut, as after a network failure). */
  restore(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of the PostgreSQL of `databaseUrl` (a host and port, or the
 * embedded database's socket directory), so a test can make the database unreachable to a server.
 */
export async function startTcpProxy(databaseUrl: string): Promise<TcpProxy> {
  const target = new URL(databaseUrl);
  const host = decodeURIComponent(target.hostname);
  const port = Number(target.port || 5432);
  const to = host.startsWith('/') ? { path: `${host}/.s.PGSQL.${port}` } : { host, port };
  let mode: 'forward' | 'refuse' | 'blackhole' = 'forward';
  let accepted = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    accepted++;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    if (mode === 'refuse') return client.destroy();
    if (mode === 'blackhole') return client.resume(); // read and drop
    const upstream = connect(to);
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(typeof address === 'object' && address ? address.port : 0);
  const cutAll = () => {
    for (const socket of open) socket.destroy();
  };
  return {
    url: url.toString(),
    refuse() {
      mode = 'refuse';
      cutAll();
    },
    blackhole() {
      mode = 'blackhole';
      // Open connections stay open, but nothing crosses them any more.
      for (const socket of open) {
        socket.unpipe();
        socket.resume();
      }
    },
    restore() {
      mode = 'forward';
      cutAll();
    },
    get accepted() {
      return accepted;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
