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
 * What cannot be kept per client: session settings changed with SET, temporary tables, statements
 * prepared with SQL's PREPARE, advisory locks (one session holds them all) and LISTEN; transactions
 * of different clients never overlap, so a client idle in a transaction holds up the others as a
 * lock would. Anything PGlite would take for the end of its one session (an unknown message, the
 * data of COPY FROM STDIN, a malformed startup packet) is refused before it gets there; should PGlite
 * fail all the same, every client is closed and none accepted again (the readiness probe says so).
 */
export class EmbeddedSocketServer {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  /** Clients with a complete message waiting, in the order they got one. */
  private readonly waiting: Client[] = [];
  /** Whose session the backend holds now; undefined: a clean one is due. */
  private owner: Client | undefined;
  private pumping = false;
  /** PGlite failed in itself: nothing is served any more (see fail). */
  private broken = false;
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
    if (this.stopped || this.broken) {
      socket.destroy();
      return;
    }
    const client: Client = {
      id: this.nextId++,
      socket,
      chunks: [],
      received: 0,
      started: false,
      atBoundary: true,
      prepared: new Map(),
      closed: false,
    };
    this.clients.add(client);
    socket.on('data', (chunk: Buffer) => {
      if (client.closed) return;
      // Kept as chunks, joined once a whole message is there: a big message costs one copy.
      client.chunks.push(chunk);
      client.received += chunk.length;
      this.enqueue(client);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      client.closed = true;
      client.chunks = [];
      client.received = 0;
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
      .catch(() => this.fail())
      .finally(() => {
        this.pumping = false;
        // Something arrived after the loop last looked.
        if (this.pumpAgain && !this.stopped) this.pump();
      });
  }

  private async run(): Promise<void> {
    while (!this.stopped && !this.broken) {
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
        // The old owner's data may have come in while the turn changed hands: it waits its turn too.
        if (owner && owner !== client && !owner.closed && frameLength(owner) !== undefined) {
          if (!this.waiting.includes(owner)) this.waiting.push(owner);
        }
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
    // exec() takes PGlite's own locks: not inside runExclusive. ROLLBACK whatever isInTransaction
    // says: a client that left between Execute and Sync leaves an implicit transaction open, which
    // a Sync would commit and DISCARD ALL refuses (25001). Outside a transaction it only warns.
    await this.db.exec('ROLLBACK');
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
    const message = take(client, length);
    const startup = !client.started;
    const type = startup ? 0 : message[0]!;
    if (startup) {
      const code = message.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        client.socket.write('N');
        return;
      }
      if (code !== PROTOCOL_3 || !wellFormedStartup(message)) {
        // A CancelRequest (not supported), another protocol, a malformed packet: nothing to run.
        this.drop(client);
        return;
      }
      client.started = true;
    } else {
      if (type === TERMINATE) {
        this.drop(client);
        return;
      }
      // What PGlite would take for the end of its session (an unknown type, COPY FROM STDIN's
      // stream, which it cannot read) never reaches it.
      if (!FORWARDED.has(type)) {
        this.drop(client, 'unsupported message for the embedded database');
        return;
      }
      if ((type === QUERY_TYPE || type === PARSE_TYPE) && copiesFromClient(message)) {
        this.drop(client, 'COPY FROM STDIN is not supported by the embedded database');
        return;
      }
      this.track(client, message);
    }
    const socket = client.socket;
    try {
      await this.db.runExclusive(() =>
        // PGlite reads none of the startup parameters: it is given the same well-formed packet for all.
        this.db.execProtocolRawStream(startup ? STARTUP : new Uint8Array(message), {
          onRawData: (data) => {
            if (!socket.destroyed) socket.write(Buffer.from(data));
          },
        }),
      );
    } catch {
      this.fail();
      return;
    }
    client.atBoundary = startup || type === SYNC_TYPE || type === QUERY_TYPE || type === FUNCTION_CALL;
  }

  /** Ends a client's connection now: nothing more of it is read or run. */
  private drop(client: Client, error?: string): void {
    client.closed = true;
    client.chunks = [];
    client.received = 0;
    if (error) client.socket.end(errorResponse(error));
    client.socket.destroy();
  }

  /**
   * PGlite failed in itself (not a query error, which it answers): PostgreSQL's one session has
   * ended and WebAssembly cannot start it again. Every client is told and closed and none is
   * accepted any more; the server's readiness probe fails from now on.
   */
  private fail(): void {
    this.broken = true;
    for (const client of this.clients) this.drop(client, 'the embedded database stopped; restart the server');
    this.server?.close();
  }

  /** Remembers the client's named statements (Parse), forgets those it closes (Close 'S'). */
  private track(client: Client, message: Buffer): void {
    const type = message[0];
    if (type === PARSE_TYPE) {
      const name = cString(message, 5);
      if (name) client.prepared.set(name, Buffer.from(message));
    } else if (type === CLOSE_TYPE && message[5] === STATEMENT) {
      client.prepared.delete(cString(message, 6));
    } else if (type === QUERY_TYPE) {
      // The client dropped statements itself (rare: pools that reset connections).
      const text = cString(message, 5);
      const dropped = /^\s*deallocate\s+(?:prepare\s+)?("?)([\w$]+)\1\s*;?\s*$/i.exec(text);
      if (/^\s*(deallocate\s+(prepare\s+)?all|discard\s+all)\s*;?\s*$/i.test(text)) client.prepared.clear();
      else if (dropped) client.prepared.delete(dropped[2]!);
    }
  }
}

interface Client {
  readonly id: number;
  readonly socket: Socket;
  /** Bytes received and not yet handled, as they came. */
  chunks: Buffer[];
  /** Their total length. */
  received: number;
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
const FUNCTION_CALL = 0x46; // 'F'
/** The messages a client sends after startup that PGlite is given (Terminate is handled here). */
const FORWARDED = new Set([...'QPBDECSHF'].map((c) => c.charCodeAt(0)));
/** A startup packet as PostgreSQL allows it: at most 10000 bytes (its MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP = 10_000;
/** The startup packet PGlite is given for every client: protocol 3.0, user and database postgres. */
const STARTUP = (() => {
  const body = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const packet = Buffer.alloc(8 + body.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(PROTOCOL_3, 4);
  body.copy(packet, 8);
  return new Uint8Array(packet);
})();
const SYNC = Buffer.from([SYNC_TYPE, 0, 0, 0, 4]);
/** Bigger than any statement or parameter this server sends; past it a client is talking nonsense. */
const MAX_MESSAGE = 256 * 1024 * 1024;

/**
 * The length of the first complete message a client sent; undefined when it is not all there
 * yet; -1 for a length no PostgreSQL client sends. Before startup a message has no type byte.
 */
function frameLength(client: Client): number | undefined {
  const offset = client.started ? 1 : 0;
  if (client.received < offset + 4) return undefined;
  const header = peek(client, offset + 4);
  const length = header.readInt32BE(offset);
  const max = client.started ? MAX_MESSAGE : MAX_STARTUP;
  if (length < 4 || length > max || (!client.started && length < 8)) return -1;
  return client.received >= offset + length ? offset + length : undefined;
}

/** The first `n` bytes received (there are at least that many), joining only the chunks needed. */
function peek(client: Client, n: number): Buffer {
  if (client.chunks[0]!.length < n) {
    let joined = 0;
    let count = 0;
    while (joined < n) joined += client.chunks[count++]!.length;
    client.chunks.splice(0, count, Buffer.concat(client.chunks.slice(0, count)));
  }
  return client.chunks[0]!;
}

/** Removes and returns the first `n` bytes received. */
function take(client: Client, n: number): Buffer {
  const first = peek(client, n);
  const message = first.subarray(0, n);
  if (first.length === n) client.chunks.shift();
  else client.chunks[0] = first.subarray(n);
  client.received -= n;
  return message;
}

/** A startup packet ends with a NUL after its key/value pairs, as PostgreSQL requires. */
function wellFormedStartup(message: Buffer): boolean {
  return message.length > 8 && message[message.length - 1] === 0;
}

/** A Query or Parse whose statement is COPY … FROM STDIN (PGlite cannot take the data that follows). */
function copiesFromClient(message: Buffer): boolean {
  const text = cString(message, message[0] === PARSE_TYPE ? 5 + cString(message, 5).length + 1 : 5);
  return /\bcopy\b/i.test(text) && /\bfrom\s+stdin\b/i.test(text);
}

/** A FATAL ErrorResponse with this message (SQLSTATE 0A000, feature not supported). */
function errorResponse(text: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C0A000\0M${text}\0\0`);
  const message = Buffer.alloc(5 + fields.length);
  message[0] = 0x45; // 'E'
  message.writeInt32BE(4 + fields.length, 1);
  fields.copy(message, 5);
  return message;
}

function cString(buffer: Buffer, start: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString('utf8', start, end < 0 ? buffer.length : end);
}

function concat(a: Buffer, b: Buffer): Uint8Array {
  return new Uint8Array(Buffer.concat([a, b]));
}
