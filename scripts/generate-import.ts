/**
 * An import file of COUNT made-up users for `npm run import` (docs/import.md), on stdout:
 * `node --import @swc-node/register/esm-register scripts/generate-import.ts 100000 [APPID…] > users.jsonl`.
 * Each user has a nickname, a phone number and a unionId of its own, and one identity in each APPID
 * given (default: the emulator's demo mini program and website).
 */
import { once } from 'node:events';

const [countArg, ...appIds] = process.argv.slice(2);
const count = Number(countArg);
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: generate-import.ts COUNT [APPID…]\n');
  process.exit(1);
}
const apps = appIds.length > 0 ? appIds : ['wxdemomini000000001', 'wxdemoweb0000000001'];

for (let i = 1; i <= count; i++) {
  const user = {
    externalId: `legacy-${i}`,
    nickname: `User ${i}`,
    phoneNumber: `+86139${String(i).padStart(8, '0')}`,
    unionId: `o-legacy-union-${i}`,
    identities: apps.map((appId) => ({ appId, openId: `o-legacy-${appId}-${i}` })),
  };
  // Written as the pipe takes it, so memory stays flat whatever COUNT is.
  if (!process.stdout.write(`${JSON.stringify(user)}\n`)) await once(process.stdout, 'drain');
}
