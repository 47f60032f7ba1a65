/**
 * A fault for the next `times` calls of one path: an errcode, an HTTP status, a drop (the call is
 * read, then the connection closed without an answer), a reset (the connection is reset with the
 * call unread, as a server that closed an idle kept-alive connection does), bad JSON, a delay.
 */
export interface Fault {
  path: string;
  times: number;
  errcode?: number;
  status?: number;
  delayMs?: number;
  drop?: boolean;
  reset?: boolean;
  malformed?: boolean;
}

export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  appid: string | null;
  outcome: string;
  /** Which TCP connection carried the call: 1 for the first the emulator accepted, and so on. */
  connection: number | null;
}

const MAX_LOG = 10_000;

/**
 * What tests do to and learn from the emulator's traffic: injected faults and latency, the request
 * log (no secrets: path, appid, outcome), and counts of calls and TCP connections since the start.
 */
export class Traffic {
  private faults: Fault[] = [];
  private log: RequestLogEntry[] = [];
  /** Calls per path since the start, not trimmed like the log (benchmarks count round trips). */
  private readonly calls = new Map<string, number>();
  private connections = 0;
  private readonly connectionIds = new WeakMap<object, number>();
  private latency = 0;

  constructor(private readonly now: () => number) {}

  /** Added to every WeChat API call. */
  get latencyMs(): number {
    return this.latency;
  }

  setLatency(ms: number): void {
    this.latency = ms;
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** The next fault for this path, counting one of its `times` down. */
  takeFault(path: string): Fault | undefined {
    const fault = this.faults.find((f) => f.path === path && f.times > 0);
    if (!fault) return undefined;
    fault.times -= 1;
    if (fault.times === 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  record(entry: Omit<RequestLogEntry, 'at' | 'connection'>, socket?: object): void {
    this.calls.set(entry.path, (this.calls.get(entry.path) ?? 0) + 1);
    const connection = (socket && this.connectionIds.get(socket)) ?? null;
    this.log.push({ at: new Date(this.now()).toISOString(), ...entry, connection });
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
  }

  connectionOpened(socket: object): void {
    this.connections += 1;
    this.connectionIds.set(socket, this.connections);
  }

  requests(): RequestLogEntry[] {
    return [...this.log];
  }

  stats(): { calls: Record<string, number>; connections: number } {
    return { calls: Object.fromEntries(this.calls), connections: this.connections };
  }

  /** Forgets faults, latency and the log; the counts since the start stay. */
  reset(): void {
    this.faults = [];
    this.log = [];
    this.latency = 0;
  }
}
