import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../src/config.js';

const SECRET = 'x'.repeat(32);
/** A production environment that starts. */
const PRODUCTION = {
  NODE_ENV: 'production',
  AUTH_SECRET: SECRET,
  DATABASE_URL: 'postgresql://db.example/app',
  WECHAT_MINI_APPID: 'wx1',
  WECHAT_MINI_SECRET: 's',
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has development defaults: port 4000, embedded database, emulator on, a generated AUTH_SECRET', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.database.url).toBeUndefined();
    expect(config.database.embeddedDir).toBe('.data/pglite');
    expect(config.database.migrateOnStart).toBe(true);
    expect(config.emulator.enabled).toBe(true);
    expect(config.authSecretGenerated).toBe(true);
    expect(config.authSecret.length).toBeGreaterThanOrEqual(32);
    expect(config.wechat.apiBaseUrl).toBe('https://api.weixin.qq.com');
    expect(config.wechat.apps).toEqual([]);
  });

  it('names tokens after PUBLIC_URL (default: this port on localhost) and TOKEN_AUDIENCE (default: PUBLIC_URL)', () => {
    expect(loadConfig({ PORT: '4321' }).accessTokens).toEqual({
      issuer: 'http://localhost:4321',
      audience: 'http://localhost:4321',
    });
    const config = loadConfig({ PUBLIC_URL: 'https://login.example.com/', TOKEN_AUDIENCE: 'api' });
    expect(config.publicUrl).toBe('https://login.example.com');
    expect(config.accessTokens).toEqual({ issuer: 'https://login.example.com', audience: 'api' });
    expect(config.signingKeys).toEqual({ rotationDays: 30, refreshSeconds: 60 });
    expect(loadConfig({ ...PRODUCTION, PUBLIC_URL: 'http://127.0.0.1:4000' }).publicUrl).toBe(
      'http://127.0.0.1:4000',
    );
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({ WECHAT_MINI_APPID: 'wx1', WECHAT_MINI_SECRET: 's' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.wechat.apps[0])).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT: .*port number.*"abc"/],
    [{ PORT: '70000' }, /^PORT: /],
    [{ DATABASE_URL: 'mysql://root@localhost/db' }, /^DATABASE_URL: must be a postgresql:\/\/ URL/],
    [{ NODE_ENV: 'production', AUTH_SECRET: 'short' }, /^AUTH_SECRET: must be at least 32 characters$/],
    [{ NODE_ENV: 'production', WECHAT_WEB_APPID: 'wx1', WECHAT_WEB_SECRET: 's' }, /^AUTH_SECRET: required/],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV: /],
    [
      { NODE_ENV: 'production', AUTH_SECRET: SECRET },
      /^WECHAT_\*_APPID: NODE_ENV=production needs at least one app/,
    ],
    [{ RATE_LIMIT: 'maybe' }, /^RATE_LIMIT: /],
    [{ RATE_LIMIT_IP_PER_MINUTE: '0' }, /^RATE_LIMIT_IP_PER_MINUTE: must be greater than 0/],
    [{ DATABASE_POOL_MAX: 'ten' }, /^DATABASE_POOL_MAX: must be a whole number/],
    [{ MIGRATE_ON_START: 'maybe' }, /^MIGRATE_ON_START: must be true or false/],
    [{ WECHAT_MINI_APPID: 'wx1' }, /^WECHAT_MINI_SECRET: must be set when WECHAT_MINI_APPID is set$/],
    [{ WECHAT_EMULATOR: 'sometimes' }, /^WECHAT_EMULATOR: /],
    [
      { NODE_ENV: 'production', AUTH_SECRET: SECRET, WECHAT_EMULATOR: 'on' },
      /^WECHAT_EMULATOR: cannot be on/,
    ],
    [{ WECHAT_API_BASE_URL: 'ftp://x' }, /^WECHAT_API_BASE_URL: must be an http/],
    [
      { NODE_ENV: 'production', AUTH_SECRET: SECRET, WECHAT_MINI_APPID: 'wx1', WECHAT_MINI_SECRET: 's' },
      /^DATABASE_URL: required when NODE_ENV=production/,
    ],
    [
      { ...PRODUCTION, WECHAT_API_BASE_URL: 'http://wechat-proxy.internal' },
      /^WECHAT_API_BASE_URL: must be https:\/\/ when NODE_ENV=production/,
    ],
    [
      { ...PRODUCTION, WECHAT_OPEN_BASE_URL: 'http://open.weixin.qq.com' },
      /^WECHAT_OPEN_BASE_URL: must be https:\/\/ when NODE_ENV=production/,
    ],
    [{ WECHAT_WEB_REDIRECT_URIS: 'https://a.example/cb, nope' }, /^WECHAT_WEB_REDIRECT_URIS: "nope"/],
    [{ PUBLIC_URL: 'login.example.com' }, /^PUBLIC_URL: must be an http\(s\):\/\/ URL/],
    [
      { ...PRODUCTION, PUBLIC_URL: 'http://login.example.com' },
      /^PUBLIC_URL: must be https:\/\/ when NODE_ENV=production/,
    ],
    [
      { ...PRODUCTION, WECHAT_OA_APPID: 'wxoa1', WECHAT_OA_SECRET: 's', WECHAT_OA_TOKEN: 'pamtest' },
      /^WECHAT_OA_AES_KEY: required with a Token when NODE_ENV=production \(wxoa1\): plain mode signs the time, not the message/,
    ],
    [{ SIGNING_KEY_ROTATION_DAYS: '0' }, /^SIGNING_KEY_ROTATION_DAYS: must be greater than 0/],
    [{ SIGNING_KEY_REFRESH_SECONDS: 'soon' }, /^SIGNING_KEY_REFRESH_SECONDS: must be a whole number/],
    [{ HOUSEKEEPING_INTERVAL_SECONDS: 'hourly' }, /^HOUSEKEEPING_INTERVAL_SECONDS: must be a whole number/],
    [{ HOUSEKEEPING_INTERVAL_SECONDS: '9999999' }, /^HOUSEKEEPING_INTERVAL_SECONDS: must be at most 604800/],
    [{ SESSION_RETENTION_DAYS: '0' }, /^SESSION_RETENTION_DAYS: must be greater than 0 \(got "0"\)$/],
    [{ WEBHOOK_RETENTION_DAYS: '-1' }, /^WEBHOOK_RETENTION_DAYS: must be a whole number/],
    [{ AUDIT_RETENTION_DAYS: '0' }, /^AUDIT_RETENTION_DAYS: must be greater than 0/],
    [{ AUDIT_RETENTION_DAYS: '9999999999' }, /^AUDIT_RETENTION_DAYS: must be at most 36500/],
    [{ SHUTDOWN_DRAIN_SECONDS: '61' }, /^SHUTDOWN_DRAIN_SECONDS: must be at most 60/],
    [{ WECHAT_EMULATOR_URL: '127.0.0.1:4100' }, /^WECHAT_EMULATOR_URL: must be an http\(s\):\/\/ URL/],
    [
      { WECHAT_EMULATOR_URL: 'http://127.0.0.1:4100', WECHAT_EMULATOR: 'off' },
      /^WECHAT_EMULATOR_URL: cannot be set with WECHAT_EMULATOR=off$/,
    ],
    [
      { ...PRODUCTION, WECHAT_EMULATOR_URL: 'http://127.0.0.1:4100' },
      /^WECHAT_EMULATOR_URL: cannot be set when NODE_ENV=production$/,
    ],
  ])('rejects %j with a line naming the variable, first', (env, pattern) => {
    const lines = configError(env).split('\n');
    expect(lines[0]).toMatch(pattern);
    // Any other problem of the same environment: a line each, each naming its variable.
    for (const line of lines) expect(line).toMatch(/^[A-Z_*]+: \S/);
  });

  it('lists every problem in one go: bad values and what they hide from the checks across variables', () => {
    expect(
      configError({
        NODE_ENV: 'production',
        PORT: 'abc',
        RATE_LIMIT: 'maybe',
        WEBHOOK_URLS: 'http://hooks.example.com/in',
      }).split('\n'),
    ).toEqual([
      'PORT: must be a port number (0-65535) (got "abc")',
      'RATE_LIMIT: Invalid option: expected one of "on"|"off" (got "maybe")',
      'AUTH_SECRET: required when NODE_ENV=production (at least 32 characters)',
      'WECHAT_*_APPID: NODE_ENV=production needs at least one app (WECHAT_WEB_, WECHAT_APP_, WECHAT_MINI_ or WECHAT_OA_APPID and _SECRET, or WECHAT_APPS)',
      'DATABASE_URL: required when NODE_ENV=production (the embedded database is for development)',
      'WEBHOOK_URLS: entry 1 must be https:// when NODE_ENV=production (plain http only on loopback)',
    ]);
  });

  it('takes an official account with a Token in production only in safe (or compatible) mode', () => {
    const official = { WECHAT_OA_APPID: 'wxoa1', WECHAT_OA_SECRET: 's', WECHAT_OA_TOKEN: 'pamtest' };
    const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const app = loadConfig({ ...PRODUCTION, ...official, WECHAT_OA_AES_KEY: aesKey }).wechat.apps.find(
      (a) => a.kind === 'official',
    );
    expect(app).toMatchObject({ token: 'pamtest', aesKey });
    // Development keeps plain mode for the emulator.
    expect(loadConfig(official).wechat.apps.find((a) => a.kind === 'official')?.aesKey).toBeUndefined();
  });

  it('reads AUTH_SECRET_PREVIOUS as a trimmed, deduplicated list without AUTH_SECRET, each at least 32 characters', () => {
    const old = 'o'.repeat(32);
    const older = 'p'.repeat(40);
    expect(loadConfig(PRODUCTION).authSecretPrevious).toEqual([]);
    expect(
      loadConfig({ ...PRODUCTION, AUTH_SECRET_PREVIOUS: ` ${old} , ${older},,${old},${SECRET}` })
        .authSecretPrevious,
    ).toEqual([old, older]);
    const message = configError({ ...PRODUCTION, AUTH_SECRET_PREVIOUS: `${old},hunter4-short` });
    expect(message).toBe('AUTH_SECRET_PREVIOUS: each comma-separated secret must be at least 32 characters');
  });

  it('never echoes a secret value or a database password in its error', () => {
    const message = configError({ NODE_ENV: 'production', AUTH_SECRET: 'hunter2-too-short' });
    expect(message).not.toContain('hunter2');
    const url = configError({ DATABASE_URL: 'mysql://root:hunter3@db.example/app' });
    expect(url).toMatch(/^DATABASE_URL: must be a postgresql:\/\/ URL/);
    expect(url).not.toContain('hunter3');
  });

  it('uses an emulator already running at WECHAT_EMULATOR_URL, even with credentials set', () => {
    const config = loadConfig({
      WECHAT_EMULATOR_URL: 'http://127.0.0.1:4100/',
      WECHAT_WEB_APPID: 'wx1',
      WECHAT_WEB_SECRET: 's',
    });
    expect(config.emulator).toMatchObject({ enabled: true, url: 'http://127.0.0.1:4100' });
    expect(loadConfig({}).emulator.url).toBeUndefined();
  });

  it('turns the emulator off when credentials are set, and in production', () => {
    expect(loadConfig({ WECHAT_WEB_APPID: 'wx1', WECHAT_WEB_SECRET: 's' }).emulator.enabled).toBe(false);
    const production = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgresql://db.example/app',
      AUTH_SECRET: SECRET,
      WECHAT_WEB_APPID: 'wx1',
      WECHAT_WEB_SECRET: 's',
    });
    expect(production.emulator.enabled).toBe(false);
    expect(production.wechat.apps[0]!.redirectUris).toEqual([]);
    expect(production.host).toBe('0.0.0.0');
  });

  it('takes one app per kind from WECHAT_*_APPID/SECRET and several from WECHAT_APPS, each appid once', () => {
    const config = loadConfig({
      WECHAT_MINI_APPID: 'wxmini1',
      WECHAT_MINI_SECRET: 'mini-secret-1',
      WECHAT_OA_APPID: 'wxoa1',
      WECHAT_OA_SECRET: 'oa-secret-1',
      WECHAT_OA_REDIRECT_URIS: 'https://m.example/cb',
      WECHAT_APPS: JSON.stringify([
        { kind: 'mini', appId: 'wxmini2', secret: 'mini-secret-2' },
        // EMULATOR_APPS spells it appid: either is taken.
        { kind: 'official', appid: 'wxoa2', secret: 'oa-secret-2', redirectUris: ['https://n.example/cb'] },
        { kind: 'web', appId: 'wxweb2', secret: 'web-secret-2' },
      ]),
    });
    expect(config.wechat.apps).toEqual([
      { kind: 'mini', appId: 'wxmini1', secret: 'mini-secret-1', redirectUris: [] },
      { kind: 'official', appId: 'wxoa1', secret: 'oa-secret-1', redirectUris: ['https://m.example/cb'] },
      { kind: 'mini', appId: 'wxmini2', secret: 'mini-secret-2', redirectUris: [] },
      { kind: 'official', appId: 'wxoa2', secret: 'oa-secret-2', redirectUris: ['https://n.example/cb'] },
      // No list of its own, none for its kind: any in development.
      { kind: 'web', appId: 'wxweb2', secret: 'web-secret-2', redirectUris: null },
    ]);
    expect(config.emulator.enabled).toBe(false);
    // WECHAT_APPS alone is enough for production.
    const production = loadConfig({
      ...PRODUCTION,
      WECHAT_MINI_APPID: '',
      WECHAT_MINI_SECRET: '',
      WECHAT_WEB_REDIRECT_URIS: 'https://w.example/cb',
      WECHAT_APPS: JSON.stringify([{ kind: 'web', appId: 'wxweb2', secret: 'web-secret-2' }]),
    });
    // The kind's variable is the default list of apps that have none of their own.
    expect(production.wechat.apps).toEqual([
      { kind: 'web', appId: 'wxweb2', secret: 'web-secret-2', redirectUris: ['https://w.example/cb'] },
    ]);
  });

  it('takes an official account’s event push settings (Token, EncodingAESKey) and never shows them', () => {
    const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const config = loadConfig({
      WECHAT_OA_APPID: 'wxoa1',
      WECHAT_OA_SECRET: 'oa-secret-1',
      WECHAT_OA_TOKEN: 'pamtest',
      WECHAT_OA_AES_KEY: aesKey,
      WECHAT_APPS: JSON.stringify([
        { kind: 'official', appId: 'wxoa2', secret: 'oa-secret-2', token: 'token2' },
        { kind: 'official', appId: 'wxoa3', secret: 'oa-secret-3' },
      ]),
    });
    expect(config.wechat.apps.map(({ appId, token, aesKey: key }) => ({ appId, token, key }))).toEqual([
      { appId: 'wxoa1', token: 'pamtest', key: aesKey },
      { appId: 'wxoa2', token: 'token2', key: undefined },
      { appId: 'wxoa3', token: undefined, key: undefined },
    ]);
    const refusals: [Record<string, string>, RegExp][] = [
      [{ WECHAT_OA_TOKEN: 'pamtest' }, /^WECHAT_OA_TOKEN: is set but WECHAT_OA_APPID is not$/m],
      [
        { WECHAT_OA_APPID: 'wxoa1', WECHAT_OA_SECRET: 's', WECHAT_OA_TOKEN: 'no spaces here!' },
        /^WECHAT_OA_TOKEN: the Token must be 3 to 32 letters or digits$/m,
      ],
      [
        {
          WECHAT_OA_APPID: 'wxoa1',
          WECHAT_OA_SECRET: 's',
          WECHAT_OA_TOKEN: 'pamtest',
          WECHAT_OA_AES_KEY: 'short',
        },
        /^WECHAT_OA_TOKEN: the EncodingAESKey must be 43 letters or digits$/m,
      ],
      [
        { WECHAT_OA_APPID: 'wxoa1', WECHAT_OA_SECRET: 's', WECHAT_OA_AES_KEY: aesKey },
        /^WECHAT_OA_TOKEN: an EncodingAESKey needs its Token too$/m,
      ],
      [
        { WECHAT_APPS: JSON.stringify([{ kind: 'mini', appId: 'wx1', secret: 's', token: 'pamtest' }]) },
        /^WECHAT_APPS: \[0\]\.token: only official accounts receive event pushes$/m,
      ],
      [
        { WECHAT_APPS: JSON.stringify([{ kind: 'official', appId: 'wx1', secret: 's', token: 'x' }]) },
        /^WECHAT_APPS: \[0\]: the Token must be 3 to 32 letters or digits$/m,
      ],
    ];
    for (const [env, message] of refusals) {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toMatch(message);
      // Neither the Token nor the key is ever echoed.
      expect((error as ConfigError).message).not.toMatch(/pamtest|no spaces here|short|abcdefghij/);
    }
  });

  it.each([
    ['not json', /^WECHAT_APPS: is not valid JSON$/],
    ['{"kind":"mini"}', /^WECHAT_APPS: must be a JSON array/],
    [
      '[{"kind":"tv","appId":"wx1","secret":"s"}]',
      /^WECHAT_APPS: \[0\]\.kind: kind must be one of web, app, mini, official$/,
    ],
    ['[{"kind":"mini","appId":"wx 1","secret":"s"}]', /^WECHAT_APPS: \[0\]\.appId: /],
    ['[{"kind":"mini","appId":"wx1","secret":""}]', /^WECHAT_APPS: \[0\]\.secret: secret must not be empty$/],
    ['[{"kind":"mini","appId":"wx1"}]', /^WECHAT_APPS: \[0\]\.secret: /],
    [
      '[{"kind":"mini","appId":"wx1","secret":"s","bound":true}]',
      /^WECHAT_APPS: \[0\]: unknown field bound$/,
    ],
    [
      // A secret pasted where a field name goes is not shown.
      '[{"kind":"mini","appId":"wx1","secret":"s","very-secret-value":1}]',
      /^WECHAT_APPS: \[0\]: unknown field \(not shown\)$/,
    ],
    [
      '[{"kind":"mini","appId":"wx1","secret":"s","redirectUris":["https://a.example/"]}]',
      /^WECHAT_APPS: \[0\]\.redirectUris: only web and official apps have redirect URIs$/,
    ],
    [
      '[{"kind":"web","appId":"wx1","secret":"s","redirectUris":["ftp://a.example/"]}]',
      /^WECHAT_APPS: "ftp:\/\/a.example\/" is not an http\(s\):\/\/ URL$/,
    ],
    [
      '[{"kind":"mini","appId":"wxmini","secret":"s1"},{"kind":"app","appId":"wxmini","secret":"s2"}]',
      /^WECHAT_APPS: appId wxmini is configured twice/,
    ],
  ])('refuses WECHAT_APPS=%s with one line that shows no secret', (value, expected) => {
    const message = configError({ WECHAT_APPS: value.replaceAll('"s"', '"very-secret-value"') });
    expect(message).toMatch(expected);
    expect(message).not.toContain('very-secret-value');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('refuses an appid configured both alone and in WECHAT_APPS', () => {
    expect(
      configError({
        WECHAT_MINI_APPID: 'wx1',
        WECHAT_MINI_SECRET: 's',
        WECHAT_APPS: '[{"kind":"mini","appId":"wx1","secret":"s"}]',
      }),
    ).toMatch(/^WECHAT_APPS: appId wx1 is configured twice/);
    expect(configError({ WECHAT_OA_APPID: 'wxoa' })).toMatch(
      /^WECHAT_OA_SECRET: must be set when WECHAT_OA_APPID is set$/,
    );
  });

  it('reads METRICS_PORT (unset: no listener; not 0, not PORT) and METRICS_HOST (default 127.0.0.1)', () => {
    expect(loadConfig({}).metrics).toEqual({ port: undefined, host: '127.0.0.1' });
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metrics).toEqual({
      port: 9464,
      host: '0.0.0.0',
    });
    expect(configError({ METRICS_PORT: '0' })).toBe(
      'METRICS_PORT: must be a port number (1-65535) (got "0")',
    );
    expect(configError({ METRICS_PORT: 'http' })).toMatch(/^METRICS_PORT: must be a port number/);
    expect(configError({ METRICS_PORT: '70000' })).toMatch(/^METRICS_PORT: must be a port number/);
    expect(configError({ PORT: '4000', METRICS_PORT: '4000' })).toBe(
      'METRICS_PORT: must differ from PORT (metrics are never served on the public port)',
    );
    expect(configError({ METRICS_PORT: '4000' })).toMatch(/^METRICS_PORT: must differ from PORT/);
    expect(configError({ METRICS_PORT: '4100' })).toBe(
      'METRICS_PORT: must differ from EMULATOR_PORT (the built-in WeChat emulator listens there)',
    );
    expect(loadConfig({ METRICS_PORT: '4100', WECHAT_EMULATOR: 'off' }).metrics.port).toBe(4100);
  });

  it('reads WEBHOOK_URLS and WEBHOOK_SECRET, the secret required with the URLs, in development too', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect(loadConfig({}).webhooks).toEqual({ urls: [], secret: '' });
    const config = loadConfig({
      WEBHOOK_URLS: 'https://a.example/hooks, http://10.0.0.5/in',
      WEBHOOK_SECRET: secret,
    });
    expect(config.webhooks).toEqual({ urls: ['https://a.example/hooks', 'http://10.0.0.5/in'], secret });
    expect(configError({ WEBHOOK_URLS: 'https://a.example/hooks' })).toMatch(
      /^WEBHOOK_SECRET: required when WEBHOOK_URLS is set/,
    );
    expect(configError({ WEBHOOK_URLS: 'https://a.example/h?token=hunter5, ftp://b' })).toBe(
      'WEBHOOK_URLS: entry 2 is not an http(s):// URL',
    );
    for (const bad of [
      'hunter4',
      'whsec_hunter4',
      `whsec_${Buffer.alloc(8).toString('base64')}`,
      'whsec_!!!!',
    ]) {
      const message = configError({ WEBHOOK_URLS: 'https://a.example/hooks', WEBHOOK_SECRET: bad });
      expect(message).toMatch(/^WEBHOOK_SECRET: must be whsec_ followed by the base64/);
      expect(message).not.toContain('hunter4');
      expect(message).not.toContain('\n');
    }
    const plain = configError({
      ...PRODUCTION,
      WEBHOOK_URLS: 'http://127.0.0.1:9000/hooks,http://hooks.example/in?token=hunter6',
      WEBHOOK_SECRET: secret,
    });
    expect(plain).toBe(
      'WEBHOOK_URLS: entry 2 must be https:// when NODE_ENV=production (plain http only on loopback)',
    );
    expect(
      loadConfig({ ...PRODUCTION, WEBHOOK_URLS: 'http://127.0.0.1:9000/hooks', WEBHOOK_SECRET: secret })
        .webhooks.urls,
    ).toEqual(['http://127.0.0.1:9000/hooks']);
    expect(configError({ ...PRODUCTION, WEBHOOK_URLS: 'https://hooks.example/in' })).toMatch(
      /^WEBHOOK_SECRET: required/,
    );
  });

  it('reads OIDC_CLIENTS (unset: no provider), naming the entry and field of a problem, never a secret', () => {
    expect(loadConfig({}).oidc).toBeNull();
    const secret = 's3cret-'.repeat(6);
    const clients = [
      {
        clientId: 'web',
        clientSecret: secret,
        redirectUris: ['https://app.example/cb'],
        name: 'App',
        firstParty: true,
      },
      { clientId: 'spa', redirectUris: ['http://127.0.0.1:5173/cb', 'com.example.app:/cb'], name: 'SPA' },
    ];
    const config = loadConfig({
      ...PRODUCTION,
      WECHAT_WEB_APPID: 'wxw',
      WECHAT_WEB_SECRET: 's',
      OIDC_CLIENTS: JSON.stringify(clients),
    });
    expect(config.oidc!.clients).toEqual([
      { ...clients[0], postLogoutRedirectUris: [], tokenEndpointAuthMethod: 'client_secret_basic' },
      {
        ...clients[1],
        clientSecret: undefined,
        postLogoutRedirectUris: [],
        firstParty: false,
        tokenEndpointAuthMethod: 'client_secret_basic',
      },
    ]);
    // The sign-in page's WeChat callback joins the website app's allowlist (none otherwise in production).
    expect(config.wechat.apps.find((a) => a.kind === 'web')!.redirectUris).toEqual([
      'http://localhost:4000/oidc/wechat/callback',
    ]);
    const bad = (list: unknown, env: Record<string, string> = {}) =>
      configError({ ...env, OIDC_CLIENTS: typeof list === 'string' ? list : JSON.stringify(list) });
    expect(bad('[{')).toBe('OIDC_CLIENTS: is not valid JSON');
    expect(bad([])).toBe('OIDC_CLIENTS: must list at least one client');
    expect(bad([{ ...clients[0], clientSecret: 'hunter7' }])).toBe(
      'OIDC_CLIENTS: [0].clientSecret: clientSecret must be at least 32 characters',
    );
    expect(bad([{ ...clients[0], [secret]: 1 }])).toBe('OIDC_CLIENTS: [0]: unknown field (not shown)');
    expect(bad([clients[0], clients[0]])).toBe('OIDC_CLIENTS: [1].clientId: web is listed twice');
    expect(bad([{ ...clients[1], redirectUris: ['javascript:alert(1)'] }])).toMatch(
      /^OIDC_CLIENTS: \[0\]\.redirectUris\[0\]: must be http\(s\):\/\/ or a native app scheme/,
    );
    expect(bad([{ ...clients[1], redirectUris: ['https://a.example/cb#x'] }])).toBe(
      'OIDC_CLIENTS: [0].redirectUris[0]: must not have a fragment',
    );
    expect(bad([{ ...clients[1], tokenEndpointAuthMethod: 'client_secret_post' }])).toBe(
      'OIDC_CLIENTS: [0].tokenEndpointAuthMethod: only a client with a clientSecret has one',
    );
    expect(bad([{ ...clients[0], redirectUris: ['http://app.example/cb'] }], PRODUCTION)).toBe(
      'OIDC_CLIENTS: [0].redirectUris[0]: must be https:// when NODE_ENV=production',
    );
    for (const message of [
      bad([{ ...clients[0], clientSecret: 'hunter7' }]),
      bad('[{"clientSecret":"hunter7"'),
    ]) {
      expect(message).not.toContain('hunter7');
    }
  });

  it('lets production talk plain http to a proxy on this machine only', () => {
    for (const url of ['http://127.0.0.1:3128', 'http://localhost:8080', 'http://[::1]:3128']) {
      expect(loadConfig({ ...PRODUCTION, WECHAT_API_BASE_URL: url }).wechat.apiBaseUrl).toBe(url);
    }
  });

  it('refuses to start in production without AUTH_SECRET or a platform, with exit code 1', () => {
    for (const [env, line] of [
      [
        { NODE_ENV: 'production', WECHAT_MINI_APPID: 'wx1', WECHAT_MINI_SECRET: 's' },
        /^Configuration error: AUTH_SECRET: required/,
      ],
      [{ NODE_ENV: 'production', AUTH_SECRET: SECRET }, /^Configuration error: WECHAT_\*_APPID: /],
    ] as const) {
      const result = spawnSync(
        process.execPath,
        ['--import', '@swc-node/register/esm-register', 'src/main.ts'],
        {
          env: { ...process.env, NODE_OPTIONS: '', ...env },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toMatch(line);
    }
  });

  it('stops `npm start` with exit code 1 and one line, no stack trace', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', '@swc-node/register/esm-register', 'src/main.ts'],
      { env: { ...process.env, NODE_OPTIONS: '', PORT: 'abc' }, encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Configuration error: PORT: must be a port number (0-65535) (got "abc")',
    );
    expect(result.stdout).toBe('');
  });
});
