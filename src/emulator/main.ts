/** `npm run emulator`: the WeChat emulator alone, on EMULATOR_PORT (default 4100), loopback only. */
import { createLogger } from '../server/logger.js';
import { DEMO_APPS, DEMO_USERS, parseEmulatorApps } from './apps.js';
import { createEmulator } from './emulator.js';
import { httpUrl } from './apps.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

if (process.env.NODE_ENV === 'production') fail('The WeChat emulator does not run with NODE_ENV=production.');

const portText = process.env.EMULATOR_PORT ?? '4100';
if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
  fail(`Configuration error: EMULATOR_PORT: must be a port number (0-65535) (got "${portText}")`);
}
let apps = DEMO_APPS;
if (process.env.EMULATOR_APPS) {
  try {
    apps = parseEmulatorApps(process.env.EMULATOR_APPS);
  } catch (error) {
    fail(`Configuration error: ${(error as Error).message}`);
  }
}

const loginServerUrl = process.env.EMULATOR_LOGIN_SERVER_URL || undefined;
if (loginServerUrl !== undefined && !httpUrl(loginServerUrl)) {
  fail(`Configuration error: EMULATOR_LOGIN_SERVER_URL: must be an http(s) URL (got "${loginServerUrl}")`);
}

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
const emulator = await createEmulator({
  apps,
  port: Number(portText),
  host: process.env.EMULATOR_HOST ?? '127.0.0.1',
  loginServerUrl,
  logger,
}).catch((error: unknown) => {
  const { code } = error as NodeJS.ErrnoException;
  if (code === 'EADDRINUSE') {
    fail(
      `Port ${portText} (EMULATOR_PORT) is already in use: an emulator may be running already (\`npm start\` ` +
        'without WeChat credentials runs one); use it, or set EMULATOR_PORT to a free port ' +
        `(EMULATOR_PORT=${Number(portText) + 1} npm run emulator)`,
    );
  }
  return fail(`Start failed: ${(error as Error).message}`);
});
for (const { key, ...profile } of DEMO_USERS) emulator.people.upsert(key, profile);

const mini = apps.find((a) => a.kind === 'mini');
const lines = [
  `WeChat emulator listening on ${emulator.url} (simulated WeChat: api.weixin.qq.com and open.weixin.qq.com)`,
  'Apps:',
  ...apps.map((a) => `  ${a.appid}  kind=${a.kind}  bound=${a.bound}  secret=${a.secret}`),
];
if (mini) {
  lines.push(
    'Try:',
    `  curl -s -XPOST ${emulator.url}/__emulator/codes -H 'content-type: application/json' -d '{"appid":"${mini.appid}","user":"alice"}'`,
    `  curl -s '${emulator.url}/sns/jscode2session?appid=${mini.appid}&secret=${mini.secret}&js_code=CODE&grant_type=authorization_code'`,
    `Phone (scan the mini program codes and URL Links issued): ${emulator.url}/__emulator/phone`,
  );
}
process.stdout.write(lines.join('\n') + '\n');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
