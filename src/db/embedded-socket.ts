import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Serves one PGlite database over the PostgreSQL wire protocol on a Unix socket, to any number of
 * clients, as if each had a session of its own.
 *
 * PGlite is one PostgreSQL backend: one session, whatever the number of sockets. Left as it is, a
 * prepared statement, a half-sent extended-protocol query or an open transaction of one client is
 * seen by the next: a pool that replaces an idle connection prepares its statement names again in
 * the same session and gets 42P05 "prepared statement already exists" on every query after. So
 * clients take turns at the backend, and a turn changes hands only where PostgreSQL itself would
 * allow another session to run: between two queries (after a Sync or a simple Query) and outside a
 * transaction. Each turn starts from a clean session (DISCARD ALL), into which the client's own
 * named prepared statements are parsed again, so its driver finds them where it left them.
 * What cannot be kept per client: session settings changed with SET, advisory locks (one session
 * holds them all) and LISTEN; transactions of different clients never overlap.
 */
export class EmbeddedSocketServer {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  /** Clients with a complete message waiting, in the order they got one. */
  private readonly waiting: Client[] = [];
  /** Whose session the backend holds now; undefined: a clean one is due. */
  private owner: Client | undefined;
  private pumping = false;
  /** pump() was called while the loop ran: look once more when it ends. */
  private pumpAgain = false;
  private nextId = 1;
  private stopped = false;

  constructor(
    private readonly db: PGlite,
    private readonly socketPath: string,
  ) {}

  async start(): Promise<void> {
    await this.db.waitReady;
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Closes every client connection and the socket; waits for the query in progress, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const client of this.clients) client.socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    while (this.pumping) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Client connections open now, for tests. */
  get connections(): number {
    return this.clients.size;
  }

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const client: Client = {
      id: this.nextId++,
      socket,
      buffer: Buffer.alloc(0),
      started: false,
      atBoundary: true,
      prepared: new Map(),
      closed: false,
    };
    this.clients.add(client);
    socket.on('data', (chunk: Buffer) => {
      if (client.closed) return;
      client.buffer = client.buffer.length === 0 ? chunk : Buffer.concat([client.buffer, chunk]);
      this.enqueue(client);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      client.closed = true;
      client.buffer = Buffer.alloc(0);
      this.clients.delete(client);
      const at = this.waiting.indexOf(client);
      if (at >= 0) this.waiting.splice(at, 1);
      // Its session ends with it: whatever it left open (a transaction) is undone before anyone else runs.
      this.pump();
    });
  }

  private enqueue(client: Client): void {
    if (client !== this.owner && !this.waiting.includes(client) && frameLength(client) !== undefined) {
      this.waiting.push(client);
    }
    this.pump();
  }

  /** Runs messages until nobody has one waiting; one loop at a time. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pumpAgain = false;
    void this.run()
      .catch(() => {
        // The backend failed (PGlite aborted): no client can be served any more.
        for (const client of this.clients) client.socket.destroy();
      })
      .finally(() => {
        this.pumping = false;
        // Something arrived after the loop last looked.
        if (this.pumpAgain && !this.stopped) this.pump();
      });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const owner = this.owner;
      if (owner?.closed) {
        // Its open transaction, its statements: gone before the next client's turn.
        this.owner = undefined;
        await this.resetSession();
        continue;
      }
      const ownerHasWork = owner !== undefined && frameLength(owner) !== undefined;
      const mayHandOver = !owner || (owner.atBoundary && !this.db.isInTransaction());
      let client: Client | undefined;
      if (ownerHasWork && (!mayHandOver || this.waiting.length === 0)) {
        client = owner;
      } else if (mayHandOver && this.waiting.length > 0) {
        client = this.waiting.shift()!;
        // Back of the line for the owner that still has work: turns go round.
        if (ownerHasWork && owner && !this.waiting.includes(owner)) this.waiting.push(owner);
        if (client.closed) continue;
        await this.takeTurn(client);
      } else {
        return;
      }
      await this.serveOne(client);
    }
  }

  /** Gives the backend to `client`: a clean session with its own prepared statements in it. */
  private async takeTurn(client: Client): Promise<void> {
    if (this.owner === client) return;
    await this.resetSession();
    for (const parse of client.prepared.values()) {
      await this.db.runExclusive(() => this.db.execProtocolRaw(concat(parse, SYNC)));
    }
    this.owner = client;
  }

  private async resetSession(): Promise<void> {
    // exec() takes PGlite's own locks: not inside runExclusive.
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    await this.db.exec('DISCARD ALL');
  }

  /** Handles the first complete message in the client's buffer. */
  private async serveOne(client: Client): Promise<void> {
    const length = frameLength(client);
    if (length === undefined) return;
    if (length < 0) {
      this.drop(client);
      return;
    }
    const message = client.buffer.subarray(0, length);
    client.buffer = client.buffer.subarray(length);
    const startup = !client.started;
    const type = startup ? 0 : message[0];
    if (startup) {
      const code = message.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        client.socket.write('N');
        return;
      }
      if (code !== PROTOCOL_3) {
        // A CancelRequest (not supported) or an unknown protocol: nothing to answer.
        this.drop(client);
        return;
      }
      client.started = true;
    } else {
      if (type === TERMINATE) {
        this.drop(client);
        return;
      }
      this.track(client, message);
    }
    const socket = client.socket;
    try {
      await this.db.runExclusive(() =>
        this.db.execProtocolRawStream(new Uint8Array(message), {
          onRawData: (data) => {
            if (!socket.destroyed) socket.write(Buffer.from(data));
          },
        }),
      );
    } catch {
      // PGlite refused the message itself (not a query error, which it answers): this client goes,
      // and its session is reset before the next one runs.
      this.drop(client);
      return;
    }
    client.atBoundary = startup || type === SYNC_TYPE || type === QUERY_TYPE;
  }

  /** Ends a client's connection now: nothing more of it is read or run. */
  private drop(client: Client): void {
    client.closed = true;
    client.buffer = Buffer.alloc(0);
    client.socket.destroy();
  }

  /** Remembers the client's named statements (Parse), forgets those it closes (Close 'S'). */
  private track(client: Client, message: Buffer): void {
    const type = message[0];
    if (type === PARSE_TYPE) {
      const name = cString(message, 5);
      if (name) client.prepared.set(name, Buffer.from(message));
    } else if (type === CLOSE_TYPE && message[5] === STATEMENT) {
      client.prepared.delete(cString(message, 6));
    } else if (type === QUERY_TYPE && /^\s*(deallocate|discard)\b/i.test(cString(message, 5))) {
      // The client dropped its statements itself (rare: pools that reset connections).
      client.prepared.clear();
    }
  }
}

interface Client {
  readonly id: number;
  readonly socket: Socket;
  /** Bytes received and not yet handled. */
  buffer: Buffer;
  /** Past its startup message. */
  started: boolean;
  /** Its last message ended a query (Sync, simple Query, startup): another client may run now. */
  atBoundary: boolean;
  /** Its named prepared statements: the Parse message of each, by name. */
  readonly prepared: Map<string, Buffer>;
  closed: boolean;
}

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const PARSE_TYPE = 0x50; // 'P'
const CLOSE_TYPE = 0x43; // 'C'
const QUERY_TYPE = 0x51; // 'Q'
const SYNC_TYPE = 0x53; // 'S'
const TERMINATE = 0x58; // 'X'
const STATEMENT = 0x53; // 'S' in a Close message
const SYNC = Buffer.from([SYNC_TYPE, 0, 0, 0, 4]);
/** Bigger than any statement or parameter this server sends; past it a client is talking nonsense. */
const MAX_MESSAGE = 256 * 1024 * 1024;

/**
 * The length of the first complete message in the client's buffer; undefined when it is not all
 * there yet; -1 for a length no PostgreSQL client sends. Before startup a message has no type byte.
 */
function frameLength(client: Client): number | undefined {
  const buffer = client.buffer;
  const offset = client.started ? 1 : 0;
  if (buffer.length < offset + 4) return undefined;
  const length = buffer.readInt32BE(offset);
  if (length < 4 || length > MAX_MESSAGE || (!client.started && length < 8)) return -1;
  return buffer.length >= offset + length ? offset + length : undefined;
}

function cString(buffer: Buffer, start: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString('utf8', start, end < 0 ? buffer.length : end);
}

function concat(a: Buffer, b: Buffer): Uint8Array {
  return new Uint8Array(Buffer.concat([a, b]));
}
