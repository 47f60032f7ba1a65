import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.js';
import { errorCode } from './support/graphql.js';
import { startTestServer, type TestServer } from './support/server.js';
import { APPS, startWorld, WEB_LOGIN, AUTHORIZE_URL, type World } from './support/world.js';

/** What a browser sends before a cross-origin JSON POST with a bearer token. */
const CLIENT_HEADERS =
  'content-type,authorization,apollo-require-preflight,x-apollo-operation-name,x-request-id';

function preflight(url: string, origin: string, headers = CLIENT_HEADERS) {
  return fetch(`${url}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });
}

function post(url: string, headers: Record<string, string>, body = '{"query":"{ me { id } }"}') {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

/**
 * The parts that log on their own timers, not for a request: their lines can land in the middle of
 * one (the login tickets' LISTEN connection comes up when it comes up, later on a busy machine).
 */
const BACKGROUND = new Set(['login-tickets', 'housekeeping', 'webhooks', 'signing-keys', 'metrics']);

/** The JSON log lines written since `from`, parsed, without the background parts' lines. */
function linesSince(t: TestServer, from: number): Record<string, unknown>[] {
  return t.log.lines
    .slice(from)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => !BACKGROUND.has(line.component as string));
}

describe('CORS in development (any localhost origin by default)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each(['http://localhost:5173', 'http://127.0.0.1:3000', 'http://localhost'])(
    'answers a preflight from %s with the headers clients send',
    async (origin) => {
      const response = await preflight(t.url, origin);
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
      const allowed = response.headers
        .get('access-control-allow-headers')!
        .split(',')
        .map((h) => h.trim());
      expect(allowed).toEqual(expect.arrayContaining(CLIENT_HEADERS.split(',')));
      expect(response.headers.get('access-control-max-age')).toBe('600');
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();

      const answer = await post(t.url, { origin });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
      expect(answer.headers.get('access-control-expose-headers')).toContain('x-request-id');
      expect(await answer.json()).toEqual({ data: { me: null } });
    },
  );

  it.each(['https://evil.example', 'http://localhost.evil.example', 'https://localhost:5173', 'null'])(
    'gives %s no CORS header at all',
    async (origin) => {
      const response = await preflight(t.url, origin);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('access-control-allow-headers')).toBeNull();
      const answer = await post(t.url, { origin });
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    },
  );

  it('keeps CSRF prevention on: a simple cross-origin POST (text/plain) is refused', async () => {
    const response = await post(t.url, { origin: 'http://localhost:5173', 'content-type': 'text/plain' });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/CSRF/);
  });

  it('sends security headers, with a CSP that lets the development Sandbox load', async () => {
    const health = await fetch(`${t.url}/healthz`);
    const notFound = await fetch(`${t.url}/no-such-route`);
    expect(notFound.status).toBe(404);
    for (const response of [health, notFound]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      // Called cross-origin on purpose: CORS decides who may read an answer.
      expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
      expect(response.headers.get('content-security-policy')).toMatch(/frame-src [^;]*sandbox\.embed/);
    }
    const sandbox = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(sandbox.status).toBe(200);
    expect(await sandbox.text()).toContain('embeddable-sandbox.cdn.apollographql.com');
    const csp = sandbox.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src [^;]*https:\/\/embeddable-sandbox\.cdn\.apollographql\.com/);
    expect(csp).toMatch(/frame-src [^;]*https:\/\/sandbox\.embed\.apollographql\.com/);
  });

  it('tells browsers and proxies to store no GraphQL answer, data or error', async () => {
    for (const query of ['{ __typename }', '{ me { id } }', '{ nope }']) {
      const response = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });
});

describe('CORS_ORIGINS', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ CORS_ORIGINS: 'https://app.example.com, https://admin.example.com:8443' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('allows exactly the listed origins, and no longer any localhost', async () => {
    for (const origin of ['https://app.example.com', 'https://admin.example.com:8443']) {
      const response = await preflight(t.url, origin);
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    }
    for (const origin of [
      'http://localhost:5173',
      'https://app.example.com.evil.example',
      'http://app.example.com',
    ]) {
      expect((await preflight(t.url, origin)).headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('refuses a value that is not an origin, naming the variable', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'https://app.example.com/path' })).toThrow(
      /^CORS_ORIGINS: "https:\/\/app\.example\.com\/path" is not an origin/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/^CORS_ORIGINS: "\*" is not an origin/);
    expect(loadConfig({ NODE_ENV: 'development' }).http.corsOrigins).toBe('localhost');
  });
});

describe('x-request-id', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('keeps a sane one, echoes it, and writes it on every log line of that request', async () => {
    await w.emulatorPost('/__emulator/users', { key: 'rid', nickname: 'Rid' });
    const { state } = (
      await w.gql<{ wechatWebAuthorizeUrl: { state: string } }>(AUTHORIZE_URL, {
        redirectUri: 'https://site.example/cb',
      })
    ).data!.wechatWebAuthorizeUrl;
    const code = await w.code(APPS.web.appid, 'rid');
    // userinfo fails: the login logs from the WeChat client and from the login service.
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', status: 502, times: 3 });
    const from = w.t.log.lines.length;
    const response = await post(
      w.t.url,
      { 'x-request-id': 'req-7f3a:web.login/1' },
      JSON.stringify({ query: WEB_LOGIN, variables: { input: { code, state } } }),
    );
    expect(response.headers.get('x-request-id')).toBe('req-7f3a:web.login/1');
    expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
    const lines = linesSince(w.t, from);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'incoming request',
        'WeChat answered with an HTTP error',
        'userinfo failed after the code exchange: signing in without a profile',
        'request completed',
      ]),
    );
    for (const line of lines) expect(line).toHaveProperty('reqId', 'req-7f3a:web.login/1');
    // Once per line, not twice.
    for (const raw of w.t.log.lines.slice(from)) {
      const component = (JSON.parse(raw) as { component?: string }).component;
      if (!BACKGROUND.has(component ?? '')) expect(raw.match(/"reqId"/g)).toHaveLength(1);
    }
  });

  it.each([
    ['missing', undefined],
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'a b'],
    ['with markup', '<script>'],
  ])('makes its own when the caller’s is %s', async (_label, given) => {
    const response = await post(w.t.url, given === undefined ? {} : { 'x-request-id': given });
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const other = await post(w.t.url, given === undefined ? {} : { 'x-request-id': given });
    expect(other.headers.get('x-request-id')).not.toBe(id);
  });
});

describe('TRUST_PROXY', () => {
  /** The client IP the server saw for one request, from its "incoming request" log line. */
  async function clientIp(t: TestServer, forwardedFor: string): Promise<string> {
    const id = `ip-${Math.random().toString(36).slice(2)}`;
    await post(t.url, { 'x-forwarded-for': forwardedFor, 'x-request-id': id });
    const line = t.log.lines
      .map((l) => JSON.parse(l) as { reqId?: string; msg?: string; req?: { ip: string } })
      .find((l) => l.reqId === id && l.msg === 'incoming request');
    return line!.req!.ip;
  }

  it.each([
    ['false', '203.0.113.9, 198.51.100.1', '127.0.0.1'],
    ['1', '203.0.113.9, 198.51.100.1', '198.51.100.1'],
    ['2', '203.0.113.9, 198.51.100.1', '203.0.113.9'],
    ['loopback', '203.0.113.9, 198.51.100.1', '198.51.100.1'],
    ['127.0.0.1,198.51.100.0/24', '203.0.113.9, 198.51.100.1', '203.0.113.9'],
    ['10.0.0.0/8', '203.0.113.9', '127.0.0.1'],
  ])('TRUST_PROXY=%s, X-Forwarded-For "%s": the client is %s', async (trust, forwardedFor, expected) => {
    const t = await startTestServer({ TRUST_PROXY: trust });
    try {
      expect(await clientIp(t, forwardedFor)).toBe(expected);
    } finally {
      await t.stop();
    }
  });

  it('behind one proxy, a client cannot dodge the per-IP limit by writing X-Forwarded-For itself', async () => {
    const t = await startTestServer({ TRUST_PROXY: '1', RATE_LIMIT_IP_PER_MINUTE: '3' });
    const REFRESH = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }';
    // The proxy appends the address it saw (203.0.113.50) to whatever the client sent.
    const attempt = async (spoofed: string, real = '203.0.113.50') =>
      errorCode(
        (await t.graphql(REFRESH, { t: 'rt_unknown' }, { 'x-forwarded-for': `${spoofed}, ${real}` })).body,
      );
    try {
      const codes = [];
      for (let i = 1; i <= 4; i++) codes.push(await attempt(`198.51.100.${i}`));
      expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
      // Another client behind the same proxy has its own budget.
      expect(await attempt('198.51.100.1', '203.0.113.51')).toBe('UNAUTHENTICATED');
    } finally {
      await t.stop();
    }
  }, 60_000);

  it.each([
    ['true', /^TRUST_PROXY: true would trust an X-Forwarded-For the client writes/],
    ['yes-please', /^TRUST_PROXY: "yes-please" is not false, a hop count, an IP address, a CIDR/],
    ['10.0.0.0/33', /^TRUST_PROXY: "10.0.0.0\/33" is not/],
  ])('refuses TRUST_PROXY=%s with one line', (value, message) => {
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(message);
  });
});

describe('request timeouts', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ REQUEST_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers a client that never finishes its request with 408 and closes the socket', async () => {
    const { hostname, port } = new URL(t.url);
    const socket = connect(Number(port), hostname);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      // Headers, a slow trickle of them, never the blank line that ends them.
      socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\n');
      const trickle = setInterval(() => socket.write('x-slow: 1\r\n'), 100);
      socket.on('close', () => clearInterval(trickle));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('still serves a normal request', async () => {
    const { status } = await t.graphql('{ me { id } }');
    expect(status).toBe(200);
  });
});
