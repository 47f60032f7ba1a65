/**
 * Plays a mini program against the WeChat emulator from the command line:
 * wx.login (a code minted by the emulator) → wechatMiniLogin → (updateProfile) → me.
 *
 *   npm start                       # in another terminal: server + emulator
 *   node --import @swc-node/register/esm-register examples/mini-login.ts --user alice --profile
 *
 * Options: --server URL (http://localhost:4000), --emulator URL (http://127.0.0.1:4100),
 * --appid ID (the demo mini program), --user KEY (alice), --profile (also send encryptedData,
 * anonymous as WeChat's is since 2022), --nickname NAME (then set it with updateProfile, as a mini
 * program's nickname input does), -h/--help. A bad option prints the usage on stderr and exits 2.
 */
import { parseArgs } from 'node:util';

const USAGE = `Usage: node --import @swc-node/register/esm-register examples/mini-login.ts [options]

Plays a mini program against npm start's WeChat emulator: wx.login → wechatMiniLogin → me.

Options:
  --server URL     the login server (default http://localhost:4000)
  --emulator URL   the WeChat emulator (default http://127.0.0.1:4100)
  --appid ID       the mini program's appid (default wxdemomini000000001)
  --user KEY       the emulated person (default alice)
  --profile        also send encryptedData (wx.getUserProfile: "微信用户" and a grey
                   avatar since 2022, which the server does not store)
  --nickname NAME  then set the person's own nickname with updateProfile (what a
                   mini program's nickname input sends)
  -h, --help       show this help
`;

function parseOptions() {
  try {
    return parseArgs({
      options: {
        server: { type: 'string', default: 'http://localhost:4000' },
        emulator: { type: 'string', default: 'http://127.0.0.1:4100' },
        appid: { type: 'string', default: 'wxdemomini000000001' },
        user: { type: 'string', default: 'alice' },
        profile: { type: 'boolean', default: false },
        nickname: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    // An unknown option, a missing value, a stray argument: say which, then how to call it.
    process.stderr.write(`mini-login: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const values = parseOptions();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
for (const name of ['server', 'emulator'] as const) {
  if (!/^https?:\/\//.test(values[name]) || !URL.canParse(values[name])) {
    process.stderr.write(`--${name}: not an http(s):// URL (got "${values[name]}")\n\n${USAGE}`);
    process.exit(2);
  }
}

/** One line on stderr, exit 1: what went wrong, never a stack trace. */
function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function post<T>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }).catch((error: Error) => {
    const reason = (error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.message;
    return fail(
      `Cannot reach ${new URL(url).origin} (${reason}): is \`npm start\` running? (--server, --emulator)`,
    );
  });
  const text = await response.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    fail(`${url}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  // The emulator's control API answers a bad request with 400 {"error"}; GraphQL errors are handled below.
  const reason = (answer as { error?: unknown }).error;
  if (!response.ok && typeof reason === 'string') fail(`${url}: ${reason}`);
  return answer as T;
}

interface GraphQLAnswer<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function graphql<T>(query: string, variables: unknown, accessToken?: string): Promise<T> {
  const answer = await post<GraphQLAnswer<T>>(
    `${values.server}/graphql`,
    { query, variables },
    accessToken ? { authorization: `Bearer ${accessToken}` } : {},
  );
  const error = answer.errors?.[0];
  if (error) fail(`${error.extensions?.code ?? 'ERROR'}: ${error.message}`);
  if (!answer.data) fail(`${values.server}/graphql answered no GraphQL data: is --server the login server?`);
  return answer.data;
}

// 1. wx.login(): the emulator mints the code as if the person opened the mini program.
const { code } = await post<{ code: string }>(`${values.emulator}/__emulator/codes`, {
  appid: values.appid,
  user: values.user,
});
process.stdout.write(`wx.login → code ${code.slice(0, 6)}…\n`);

// 2. Optionally wx.getUserProfile(): encrypted with the session key of that login, and anonymous
// ("微信用户", a grey avatar), as WeChat gives it since 2022.
const profile = values.profile
  ? await post<{ encryptedData: string; iv: string; rawData: string; signature: string }>(
      `${values.emulator}/__emulator/encrypted-data`,
      { appid: values.appid, user: values.user },
    )
  : {};

// 3. wechatMiniLogin with the code (and the profile).
const { wechatMiniLogin: session } = await graphql<{
  wechatMiniLogin: { accessToken: string; isNewUser: boolean; user: { id: string; nickname: string | null } };
}>(
  `
    mutation ($input: WechatMiniLoginInput!) {
      wechatMiniLogin(input: $input) {
        accessToken
        isNewUser
        user {
          id
          nickname
        }
      }
    }
  `,
  { input: { code, ...profile } },
);
process.stdout.write(
  `wechatMiniLogin → user ${session.user.id} (${session.isNewUser ? 'new' : 'returning'}), nickname ${session.user.nickname ?? '(none)'}\n`,
);

// 4. Optionally the person's own nickname (a mini program's <input type="nickname">).
if (values.nickname !== undefined) {
  const { updateProfile } = await graphql<{ updateProfile: { nickname: string | null } }>(
    `
      mutation ($input: UpdateProfileInput!) {
        updateProfile(input: $input) {
          nickname
        }
      }
    `,
    { input: { nickname: values.nickname } },
    session.accessToken,
  );
  process.stdout.write(`updateProfile → nickname ${updateProfile.nickname}\n`);
}

// 5. me, with the access token.
const { me } = await graphql<{ me: { id: string; loginMethods: { kind: string }[] } }>(
  `
    query {
      me {
        id
        loginMethods {
          kind
        }
      }
    }
  `,
  {},
  session.accessToken,
);
process.stdout.write(`me → ${me.id}, login methods: ${me.loginMethods.map((m) => m.kind).join(', ')}\n`);
