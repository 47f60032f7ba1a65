/**
 * The browser side of a WeChat website login, with the typed documents from `npm run codegen`.
 *
 * 1. "Log in with WeChat": make a PKCE verifier, ask wechatWebAuthorizeUrl for the QR URL and a
 *    state bound to the verifier's challenge, keep state and verifier in sessionStorage, go to
 *    WeChat's QR page (the emulator's, in development). Opened inside WeChat's own browser (its
 *    user agent says MicroMessenger), the page is an official account page instead: it asks
 *    wechatOfficialAccountAuthorizeUrl, with scope USERINFO (WeChat's consent page: profile and
 *    unionId) the first time on this device and BASE (silent) once someone has logged in here.
 * 2. Back here with ?code=…&state=…: compare the state with the one kept, then wechatWebLogin with
 *    the verifier. Login CSRF (a URL made by someone else must not log this browser in) is refused
 *    twice: here, and on the server, which accepts the state only with its verifier.
 * 3. Show the user and their sessions (sign another device out), refresh the session a minute
 *    before the access token expires, log out.
 * 4. Unlink one of the user's login methods (never the last: the server answers LAST_LOGIN_METHOD),
 *    or delete the account, after a second, in-page confirmation: every session ends with it.
 * 5. "Scan with WeChat (mini program)": a login ticket (docs/api.md, "Login tickets") for a website
 *    without an Open Platform website app. createLoginTicket(MINI_PROGRAM_CODE) answers a mini
 *    program code to show; the person scans it, and the mini program page it opens
 *    (examples/mini-program/login-ticket.js) signs them in there and asks them to confirm. The page
 *    follows the ticket with the loginTicket subscription over graphql-ws (graphql-ws.ts, a minimal
 *    client), or by polling the loginTicket query every 1.5 s when the socket cannot open or closes
 *    early; the session arrives once, with CONFIRMED, and is kept as a QR login's. On a phone's
 *    browser (a narrow screen or a touch user agent, not WeChat) the button is "Open in WeChat":
 *    createLoginTicket(MINI_PROGRAM_LINK) and go to its URL Link, which opens the mini program; the
 *    ticket waits in sessionStorage, so coming back to this page picks it up and signs in. In
 *    development with the WeChat emulator, the server fills in <meta name="wechat-emulator-phone">
 *    and the page links to the emulator's phone page for the code, to play the phone.
 * 6. "Follow our Official Account to log in": the same ticket with createLoginTicket
 *    (OFFICIAL_ACCOUNT_QR): the code is the Official Account's QR code; the person scans it with
 *    WeChat and follows the account (or, already following, just scans), WeChat tells the server,
 *    and the ticket is CONFIRMED at once (no SCANNED step, nothing to confirm on the phone). In
 *    development <meta name="wechat-emulator-oa-qr"> points at the emulator's phone for it.
 *
 * Tokens live in sessionStorage to keep the example short; a real app may prefer memory plus a
 * refresh token in an httpOnly cookie set by its own backend.
 */
import {
  CreateLoginTicketDocument,
  DeleteAccountDocument,
  LoginTicketDocument,
  LogoutDocument,
  MeDocument,
  MySessionsDocument,
  RefreshSessionDocument,
  RevokeSessionDocument,
  UnlinkLoginMethodDocument,
  WechatOfficialAccountAuthorizeUrlDocument,
  WechatOfficialAccountLoginDocument,
  WechatWebAuthorizeUrlDocument,
  WechatWebLoginDocument,
  WatchLoginTicketDocument,
  type CreateLoginTicketMutation,
  type LoginTicketQuery,
  type SessionFragment,
  type SessionUserFragment,
  type TypedDocumentString,
} from './gql/graphql.js';
import { socketUrl, subscribe, type GraphQLErrorShape } from './graphql-ws.js';

/** The API: this origin's /graphql, or the URL in <meta name="graphql-url"> (another origin, CORS). */
const GRAPHQL_URL =
  document.querySelector<HTMLMetaElement>('meta[name="graphql-url"]')?.content || '/graphql';
const STATE_KEY = 'wechat-login:state';
const VERIFIER_KEY = 'wechat-login:code-verifier';
const SESSION_KEY = 'wechat-login:session';
/** Which login the browser went to WeChat for: 'web' (QR) or 'official' (a page inside WeChat). */
const FLOW_KEY = 'wechat-login:flow';
/** Set once someone has logged in inside WeChat on this device: later logins there are silent. */
const KNOWN_KEY = 'wechat-login:known-in-wechat';

/** The login ticket this page waits for (id, secret, code or link): it survives going to WeChat. */
const TICKET_KEY = 'wechat-login:ticket';
/** How often the page asks for the ticket's state when the subscription is not available. */
const POLL_MS = 1500;

/** WeChat's own browser names itself in its user agent. */
const insideWeChat = /MicroMessenger/i.test(navigator.userAgent);
/** A phone's browser: the person cannot scan a code on the screen of the phone they scan with. */
const onPhone =
  !insideWeChat &&
  (matchMedia('(max-width: 600px)').matches || /Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent));
/**
 * Development with the WeChat emulator: its phone page for the server's mini program
 * (…/__emulator/phone?appid=…), which the server writes into this meta tag; empty anywhere else.
 */
const EMULATOR_PHONE =
  document.querySelector<HTMLMetaElement>('meta[name="wechat-emulator-phone"]')?.content ?? '';
/** …and its phone for the server's Official Account QR codes (…/__emulator/oa-qr?appid=…). */
const EMULATOR_OA_QR =
  document.querySelector<HTMLMetaElement>('meta[name="wechat-emulator-oa-qr"]')?.content ?? '';

class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** POSTs a typed document; returns its data or throws ApiError with the server's extensions.code. */
async function request<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  accessToken?: string,
): Promise<TResult> {
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const body = (await response.json()) as {
    data?: TResult;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.extensions?.code ?? 'ERROR', error.message);
  return body.data as TResult;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let refreshTimer: number | undefined;

function say(text: string, isError = false): void {
  const status = $('status');
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

function saveSession(session: SessionFragment | null): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

function loadSession(): SessionFragment | null {
  const raw = sessionStorage.getItem(SESSION_KEY);
  return raw ? (JSON.parse(raw) as SessionFragment) : null;
}

function show(session: SessionFragment | null): void {
  $('login').hidden = Boolean(session);
  // Inside WeChat the page signs in as an official account page: no code to scan, no link to open.
  $('ticket-login').hidden = Boolean(session) || insideWeChat;
  // A QR code to scan with another phone: not on the phone itself.
  $('follow-login').hidden = Boolean(session) || insideWeChat || onPhone;
  if (session) $('ticket').hidden = true;
  $('profile').hidden = !session;
  window.clearTimeout(refreshTimer);
  if (!session) {
    // The next login starts without the delete question open.
    $('delete-confirm').hidden = true;
    return;
  }
  const { user } = session;
  $('nickname').textContent = user.nickname ?? '(no nickname)';
  // No picture until the person sets one (a mini program login is anonymous): no broken image.
  const avatar = $<HTMLImageElement>('avatar');
  avatar.hidden = !user.avatarUrl;
  if (user.avatarUrl) avatar.src = user.avatarUrl;
  else avatar.removeAttribute('src');
  $('user-id').textContent = user.id;
  $('expires').textContent = new Date(session.expiresAt).toLocaleTimeString();
  const rows = user.loginMethods.map((m) => {
    const tr = document.createElement('tr');
    for (const value of [m.kind, m.appId, m.openId, m.unionId ?? '—']) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    // Offered on every row, the last one too: the server says why it stays (LAST_LOGIN_METHOD).
    const unlinkButton = document.createElement('button');
    unlinkButton.type = 'button';
    unlinkButton.className = 'unlink';
    unlinkButton.textContent = 'Unlink';
    unlinkButton.addEventListener('click', () => void unlink(m).catch(fail));
    const td = document.createElement('td');
    td.append(unlinkButton);
    tr.append(td);
    return tr;
  });
  $('methods').replaceChildren(...rows);
  void showSessions(session.accessToken).catch(fail);
  // Refresh a minute before the access token expires (or halfway, for short test lifetimes).
  const left = new Date(session.expiresAt).getTime() - Date.now();
  refreshTimer = window.setTimeout(() => void refresh(), Math.max(1000, Math.min(left - 60_000, left / 2)));
}

async function refresh(): Promise<void> {
  const session = loadSession();
  if (!session) return;
  // Logged out or deleted while the refresh was on its way: the page stays as that left it.
  const signedOut = () => loadSession()?.refreshToken !== session.refreshToken;
  try {
    const { refreshSession } = await request(RefreshSessionDocument, { refreshToken: session.refreshToken });
    if (signedOut()) return;
    saveSession(refreshSession);
    show(refreshSession);
  } catch (error) {
    if (signedOut()) return;
    saveSession(null);
    show(null);
    say(`Session ended (${(error as ApiError).code ?? 'ERROR'}): log in again.`, true);
  }
}

function redirectUri(): string {
  return `${location.origin}${location.pathname}`;
}

const base64url = (bytes: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/** PKCE: a random verifier (256 bits) and its S256 challenge. */
async function pkce(): Promise<{ codeVerifier: string; codeChallenge: string }> {
  const codeVerifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier));
  return { codeVerifier, codeChallenge: base64url(digest) };
}

async function startLogin(): Promise<void> {
  forgetTicket();
  say('Asking the server for the WeChat login URL…');
  const { codeVerifier, codeChallenge } = await pkce();
  let authorize: { url: string; state: string };
  if (insideWeChat) {
    // Consent (profile, unionId) the first time on this device; silent afterwards.
    const scope = localStorage.getItem(KNOWN_KEY) ? 'BASE' : 'USERINFO';
    authorize = (
      await request(WechatOfficialAccountAuthorizeUrlDocument, {
        redirectUri: redirectUri(),
        scope,
        codeChallenge,
      })
    ).wechatOfficialAccountAuthorizeUrl;
  } else {
    authorize = (await request(WechatWebAuthorizeUrlDocument, { redirectUri: redirectUri(), codeChallenge }))
      .wechatWebAuthorizeUrl;
  }
  sessionStorage.setItem(STATE_KEY, authorize.state);
  sessionStorage.setItem(VERIFIER_KEY, codeVerifier);
  sessionStorage.setItem(FLOW_KEY, insideWeChat ? 'official' : 'web');
  location.assign(authorize.url);
}

/** Back from WeChat's QR page: ?code&state (confirmed) or ?state (cancelled). */
async function finishLogin(params: URLSearchParams): Promise<void> {
  const state = params.get('state') ?? '';
  const code = params.get('code');
  const expected = sessionStorage.getItem(STATE_KEY);
  const codeVerifier = sessionStorage.getItem(VERIFIER_KEY);
  const flow = sessionStorage.getItem(FLOW_KEY);
  sessionStorage.removeItem(STATE_KEY);
  sessionStorage.removeItem(VERIFIER_KEY);
  sessionStorage.removeItem(FLOW_KEY);
  history.replaceState(null, '', redirectUri());
  if (!code) {
    say('Login cancelled on the WeChat page.', true);
    return;
  }
  if (!expected || state !== expected) {
    say('INVALID_STATE: this login was not started in this browser (state mismatch). Log in again.', true);
    return;
  }
  say('Logging in…');
  const input = { code, state, redirectUri: redirectUri(), codeVerifier };
  let session: SessionFragment;
  if (flow === 'official') {
    try {
      session = (await request(WechatOfficialAccountLoginDocument, { input })).wechatOfficialAccountLogin;
    } catch (error) {
      // WeChat's snapshot view (a preview of a shared page) logs in a virtual account.
      if ((error as ApiError).code === 'WECHAT_SNAPSHOT_USER') {
        say('This page is a WeChat preview: tap “使用完整服务” (use full service) below, then log in.', true);
        return;
      }
      throw error;
    }
    localStorage.setItem(KNOWN_KEY, '1');
  } else {
    session = (await request(WechatWebLoginDocument, { input })).wechatWebLogin;
  }
  signIn(session);
}

/** A new session, from any login: kept, shown, welcomed. */
function signIn(session: SessionFragment): void {
  saveSession(session);
  show(session);
  say(session.isNewUser ? 'Welcome! Your account was created.' : 'Welcome back!');
}

type Ticket = CreateLoginTicketMutation['createLoginTicket'];
type TicketStatus = LoginTicketQuery['loginTicket'];

/** Stops following the ticket shown (its subscription or its polling). */
let stopFollowing: (() => void) | undefined;

function ticketSay(state: string, text: string): void {
  const status = $('ticket-status');
  status.dataset.state = state;
  status.textContent = text;
}

/** No ticket any more: nothing to follow, nothing to pick up after a reload. */
function forgetTicket(): void {
  stopFollowing?.();
  stopFollowing = undefined;
  sessionStorage.removeItem(TICKET_KEY);
}

/**
 * A mini program code to scan (a computer), or a URL Link to open WeChat with (a phone); or, with
 * `official`, the Official Account's QR code to follow it with.
 */
async function startTicketLogin(official = false): Promise<void> {
  forgetTicket();
  say('');
  const kind = official ? 'OFFICIAL_ACCOUNT_QR' : onPhone ? 'MINI_PROGRAM_LINK' : 'MINI_PROGRAM_CODE';
  const { createLoginTicket: ticket } = await request(CreateLoginTicketDocument, { kind });
  // Kept for this tab only (never in a URL): it is what receives the session.
  sessionStorage.setItem(TICKET_KEY, JSON.stringify(ticket));
  followTicket(ticket);
  // To WeChat: the mini program page opens there; back here, main() picks the ticket up again.
  if (ticket.link) location.assign(ticket.link);
}

/** The ticket section as a new ticket starts: the code (or the link), its state, no way out yet. */
function showTicket(ticket: Ticket): void {
  $('ticket').hidden = false;
  $('ticket').classList.remove('over');
  const code = $<HTMLImageElement>('ticket-code');
  code.hidden = !ticket.qrCode;
  if (ticket.qrCode) code.src = ticket.qrCode;
  const openLink = $<HTMLAnchorElement>('ticket-open-link');
  openLink.hidden = !ticket.link;
  if (ticket.link) openLink.href = ticket.link;
  const emulator = $<HTMLAnchorElement>('ticket-emulator');
  const official = ticket.kind === 'OFFICIAL_ACCOUNT_QR';
  const phone = official ? EMULATOR_OA_QR : EMULATOR_PHONE;
  emulator.hidden = !(phone && ticket.qrCode);
  if (official) {
    // WeChat (the emulator) pushes the follow to the server; the phone talks to WeChat only.
    emulator.href = `${phone}&${new URLSearchParams({ scene: ticket.scene })}`;
  } else if (phone) {
    // The phone page calls this page's server (the emulator may serve several).
    const server = new URL(GRAPHQL_URL, location.href).href;
    emulator.href = `${phone}&${new URLSearchParams({ scene: ticket.scene, server })}`;
  }
  code.alt = official
    ? 'Official Account QR code: scan it with WeChat and follow'
    : 'Mini program code: scan it with WeChat';
  $('ticket-renew').hidden = true;
  $('ticket-renew').textContent = ticket.link ? 'Try again 重试' : 'New code 刷新二维码';
  $('ticket-renew').dataset.kind = ticket.kind;
}

/** The ticket ended without a session: say why, offer another. */
function ticketOver(state: string, text: string): void {
  forgetTicket();
  ticketSay(state, text);
  $('ticket').classList.add('over');
  $('ticket-open-link').hidden = true;
  $('ticket-emulator').hidden = true;
  $('ticket-renew').hidden = false;
}

/** Shows a state of the ticket; true once it is final. */
function showTicketStatus(ticket: Ticket, { state, auth }: TicketStatus): boolean {
  switch (state) {
    case 'WAITING':
      ticketSay(
        state,
        ticket.link
          ? 'Confirm in WeChat, then come back to this page. 请在微信中确认登录'
          : ticket.kind === 'OFFICIAL_ACCOUNT_QR'
            ? 'Scan with WeChat and follow the account. 请用微信扫码关注公众号'
            : 'Scan this code with WeChat. 请使用微信扫码登录',
      );
      return false;
    case 'SCANNED':
      ticketSay(state, 'Scanned: confirm on your phone. 已扫码，请在手机上确认');
      return false;
    case 'CONFIRMED':
      forgetTicket();
      $('ticket').hidden = true;
      // The session comes once: another tab following the same ticket may have taken it.
      if (auth) signIn(auth);
      else say('Confirmed, but the session went to another tab or window: start again here.', true);
      return true;
    case 'CANCELLED':
      ticketOver(state, 'Cancelled on the phone. 已取消');
      return true;
    case 'EXPIRED':
      ticketOver(
        state,
        ticket.link ? 'This link has expired. 已过期' : 'This code has expired. 二维码已过期',
      );
      return true;
  }
}

/**
 * Follows the ticket until it is final: the loginTicket subscription, or, when the socket cannot
 * open or closes early (a proxy without WebSockets, a dropped connection), the query every 1.5 s.
 */
function followTicket(ticket: Ticket): void {
  stopFollowing?.();
  showTicket(ticket);
  const variables = { id: ticket.id, secret: ticket.secret };
  let done = false;
  let polling = false;
  let timer: number | undefined;
  const onStatus = (status: TicketStatus) => {
    if (!done && showTicketStatus(ticket, status)) finish();
  };
  const onErrors = (errors: GraphQLErrorShape[]) => {
    const code = errors[0]?.extensions?.code ?? 'ERROR';
    // Unknown, or pruned long after its end: this one will never sign anyone in.
    if (code === 'TICKET_NOT_FOUND') ticketOver(code, 'This code is no longer valid. 二维码已失效');
    else poll();
  };
  const ask = () => {
    timer = undefined;
    if (done) return;
    request(LoginTicketDocument, variables)
      .then(({ loginTicket }) => onStatus(loginTicket))
      // A network error: ask again at the next turn.
      .catch((error: unknown) => {
        if (error instanceof ApiError)
          onErrors([{ message: error.message, extensions: { code: error.code } }]);
      })
      .finally(() => {
        if (!done) timer = window.setTimeout(ask, POLL_MS);
      });
  };
  const poll = () => {
    if (done || polling) return;
    polling = true;
    unsubscribe();
    ask();
  };
  const unsubscribe = subscribe(socketUrl(GRAPHQL_URL), WatchLoginTicketDocument, variables, {
    next: ({ data, errors }) => (errors?.length ? onErrors(errors) : data && onStatus(data.loginTicket)),
    error: onErrors,
    // Ended without a final state (the server stopping): the query says where it is.
    complete: poll,
    closed: poll,
  });
  const finish = () => {
    done = true;
    window.clearTimeout(timer);
    unsubscribe();
  };
  stopFollowing = finish;
}

/** A ticket this tab was waiting for (before going to WeChat, or a reload): follow it again. */
function resumeTicket(): void {
  const kept = sessionStorage.getItem(TICKET_KEY);
  if (kept) followTicket(JSON.parse(kept) as Ticket);
}

/** The signed-in user changed (unlink, or `me` on a reload): keep the session, show the new user. */
function showUser(user: SessionUserFragment): void {
  const session = loadSession();
  if (!session) return;
  const updated = { ...session, user };
  saveSession(updated);
  show(updated);
}

/** Removes one login method; the server refuses the last one (the account would be unreachable). */
async function unlink(method: { appId: string; openId: string }): Promise<void> {
  const session = loadSession();
  if (!session) return;
  try {
    const { unlinkLoginMethod } = await request(
      UnlinkLoginMethodDocument,
      { appId: method.appId, openId: method.openId },
      session.accessToken,
    );
    showUser(unlinkLoginMethod);
    say(`Unlinked ${method.appId}.`);
  } catch (error) {
    if ((error as ApiError).code === 'LAST_LOGIN_METHOD') {
      say('This is your only way to sign in: link another one first, or delete the account.', true);
      return;
    }
    throw error;
  }
}

/** The person's sessions: each device, its network and last use, and a way to sign the others out. */
async function showSessions(accessToken: string): Promise<void> {
  const { me } = await request(MySessionsDocument, {}, accessToken);
  const rows = (me?.sessions ?? []).map((s) => {
    const tr = document.createElement('tr');
    for (const value of [
      s.userAgent ?? '(unknown device)',
      s.ipPrefix ?? '—',
      new Date(s.lastUsedAt).toLocaleString(),
    ]) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    const td = document.createElement('td');
    if (s.current) td.textContent = 'this device';
    else {
      const revokeButton = document.createElement('button');
      revokeButton.type = 'button';
      revokeButton.className = 'revoke';
      revokeButton.textContent = 'Sign out that device';
      revokeButton.addEventListener('click', () => void revokeSession(s.id).catch(fail));
      td.append(revokeButton);
    }
    tr.append(td);
    return tr;
  });
  $('sessions').replaceChildren(...rows);
}

/** Ends another of the person's sessions: that device's tokens stop working at once. */
async function revokeSession(id: string): Promise<void> {
  const session = loadSession();
  if (!session) return;
  await request(RevokeSessionDocument, { id }, session.accessToken);
  await showSessions(session.accessToken);
  say('That device was signed out.');
}

/** Forgets the session in this browser and shows the signed-out page. */
function signOut(message: string): void {
  saveSession(null);
  show(null);
  say(message);
}

async function logout(): Promise<void> {
  const session = loadSession();
  // The refresh token ends the session even when the access token has expired.
  if (session) await request(LogoutDocument, { refreshToken: session.refreshToken }).catch(() => undefined);
  signOut('Logged out.');
}

/** After the in-page confirmation: the server erases the account and ends all its sessions. */
async function deleteAccount(): Promise<void> {
  const session = loadSession();
  if (!session) return;
  await request(DeleteAccountDocument, {}, session.accessToken);
  signOut('Your account was deleted.');
}

async function main(): Promise<void> {
  $('login').addEventListener('click', () => void startLogin().catch(fail));
  $('logout').addEventListener('click', () => void logout().catch(fail));
  // "Delete my account" only asks; the account goes with "Yes, delete my account for good".
  $('delete').addEventListener('click', () => ($('delete-confirm').hidden = false));
  $('delete-cancel').addEventListener('click', () => ($('delete-confirm').hidden = true));
  $('delete-yes').addEventListener('click', () => void deleteAccount().catch(fail));
  if (onPhone) $('ticket-login').textContent = 'Open in WeChat 在微信中打开';
  $('ticket-login').addEventListener('click', () => void startTicketLogin().catch(fail));
  $('follow-login').addEventListener('click', () => void startTicketLogin(true).catch(fail));
  // Another ticket of the same kind as the one that ended.
  $('ticket-renew').addEventListener(
    'click',
    () => void startTicketLogin($('ticket-renew').dataset.kind === 'OFFICIAL_ACCOUNT_QR').catch(fail),
  );
  // Back from WeChat to a page the browser kept in memory: its socket was closed meanwhile.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted && !loadSession()) resumeTicket();
  });
  const params = new URLSearchParams(location.search);
  if (params.has('state') || params.has('code')) return finishLogin(params);
  const session = loadSession();
  if (!session) {
    show(null);
    return resumeTicket();
  }
  // Still signed in? `me` says so (or UNAUTHENTICATED once the session was revoked), with the user
  // as they are now: login methods linked or unlinked since the session was kept.
  try {
    const { me } = await request(MeDocument, {}, session.accessToken);
    showUser(me ?? session.user);
  } catch {
    await refresh();
  }
}

function fail(error: unknown): void {
  const e = error as ApiError;
  say(`${e.code ?? 'ERROR'}: ${e.message}`, true);
}

main().catch(fail);
