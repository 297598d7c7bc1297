#!/usr/bin/env node
/**
 * A real OpenID Provider for the test suite, built on the certified `oidc-provider`
 * package. It listens on loopback only and behaves like Okta for what the console
 * needs. Test-only: it keeps everything in memory and trusts every loopback caller.
 *
 * Start:  node tests/idp/server.mjs CONFIG.json   (or IDP_CONFIG=CONFIG.json)
 * CONFIG (JSON, every key optional except port):
 *   port                 TCP port on 127.0.0.1 (the pytest fixture picks a free one)
 *   issuer_paths         ["", "/oauth2/default"] by default: one issuer per path, like
 *                        Okta's org server and a custom authorization server
 *   signing_algs         ["RS256"] by default; add "ES256" for an EC P-256 key as well
 *   clients, accounts    initial lists, same shape as the control API bodies below
 *   exit_on_stdin_close  true: exit when stdin closes (the fixture holds a pipe)
 *   backchannel_delay_ms 0 by default: answer the server-to-server endpoints this
 *                        many ms late (see POST /__test__/latency)
 *   quiet                true (default): no per-request or library notices
 *
 * Issuer paths ending in /v2.0 are shaped like Microsoft Entra ID (a tenant's
 * issuer is /<tenant-id>/v2.0): no email_verified, and groups sent with `openid`.
 *
 * Issuers: http://127.0.0.1:PORT and http://127.0.0.1:PORT/oauth2/default. Each has
 * its own sessions and cookies; signing keys, clients and accounts are shared.
 * Endpoints (root issuer; the path issuer has the same under /oauth2/default/v1/...):
 *   /.well-known/openid-configuration, /oauth2/v1/authorize, /oauth2/v1/token,
 *   /oauth2/v1/keys, /oauth2/v1/userinfo, /oauth2/v1/logout, /interaction/:uid
 *
 * Behaviour: authorization code flow only, PKCE S256 required for every client;
 * scopes openid email profile groups offline_access; the ID token carries sub,
 * email, email_verified, name, preferred_username and groups (array of strings,
 * when the `groups` scope is granted and the account's groups are not null).
 * Consent is automatic. Confidential clients also get client_credentials, so a token
 * request with grant_type=client_credentials tells good credentials (200) from bad
 * ones (401 invalid_client).
 *
 * Sign-in: GET /interaction/:uid shows a form (fields `login` = email, `password`;
 * `login_hint` pre-fills `login`) posting to /interaction/:uid/login. A wrong
 * password shows the form again with role="alert". The "Cancel" button posts to
 * /interaction/:uid/abort and the client receives error=access_denied.
 *
 * Sign-out: GET /oauth2/v1/logout?id_token_hint=...&post_logout_redirect_uri=...
 * returns a page whose form (id "op.logoutForm") already carries xsrf and logout=yes
 * and submits itself; without JavaScript, POST the form's hidden inputs to its
 * action. The answer is a 303 to post_logout_redirect_uri (with state); the IdP
 * session is destroyed, so the next authorize shows the sign-in form again.
 * Back-Channel Logout 1.0: a client registered with backchannel_logout_uri (and
 * backchannel_logout_session_required: true for a `sid` in its ID tokens and logout
 * tokens) is POSTed a logout token when its IdP session ends at sign-out. Only
 * loopback URIs are called (the library's guard against private addresses is
 * replaced by that rule, since the relying party under test is on loopback).
 *
 * Control API (JSON bodies and answers, loopback callers only, never counted):
 *   GET  /__test__/health                   {"ok": true, "issuers": [...]}
 *   POST /__test__/clients                  upsert one client: {client_id,
 *        client_secret, redirect_uris, post_logout_redirect_uris?,
 *        token_endpoint_auth_method?, grant_types?, id_token_signed_response_alg?,
 *        ...any oidc-provider client metadata}; 400 {error, error_description}
 *        when the metadata is invalid
 *   DELETE /__test__/clients/:client_id
 *   POST /__test__/accounts                 upsert one account: {sub, email,
 *        email_verified=true, groups=[] (null omits the claim), password, name?,
 *        claims? (more claims, e.g. tid, oid, hd, xms_edov, upn, or Entra's
 *        _claim_names/_claim_sources overage pointer), omit? (claim names never
 *        sent), userinfo_only? (claim names left out of the ID token and served
 *        by UserInfo only, as Okta custom servers often do with groups)}
 *   PUT  /__test__/accounts/:sub/groups     {"groups": [...] | null}
 *   DELETE /__test__/accounts/:sub
 *   GET  /__test__/keys                     {"kids": [...]} (signing order)
 *   POST /__test__/keys/rotate              {"keep_old": false, "algs"?: [...]} ->
 *        {"kids": [...new...], "all_kids": [...]}; new keys sign from now on
 *   GET  /__test__/counts                   {"/path": n, ...} every non-control
 *        request since the last reset, keyed by URL path without the query
 *   POST /__test__/counts/reset
 *   GET  /__test__/token-requests           [{path, status, client_id,
 *        auth_scheme ("Basic" or null), body_keys, client_assertion (raw, or null),
 *        error and error_detail (why, as oidc-provider logs it; or null)}] every token endpoint request since the last reset, oldest
 *        first, so tests can assert what a client sent (never a secret's value)
 *   POST /__test__/token-requests/reset
 *   GET  /__test__/sessions                 [{issuer, uid, account_id, login_ts,
 *        clients: {client_id: {sid}}}]
 *   POST /__test__/sessions/clear           forget every IdP session (all issuers)
 *   POST /__test__/faults                   {path, status, body?, content_type?,
 *        delay_ms?, times?}: answer requests to `path` with this instead (times
 *        requests, or until cleared); counted like any request
 *   POST /__test__/faults/clear
 *   GET  /__test__/backchannel-logouts      [{client_id, sid, ok, error?}] every
 *        back-channel logout sent since the last reset, oldest first
 *   GET  /__test__/latency                  {"backchannel_ms": n}
 *   POST /__test__/latency                  {"backchannel_ms": n}: from now on, hold
 *        every request to a server-to-server endpoint (discovery, token, keys,
 *        userinfo, introspect, revoke, par; both issuers) n ms before handling it,
 *        as a cloud IdP in another region answers a relying party's server. The
 *        browser-facing endpoints (authorize, interaction, logout) and the control
 *        API are never held. 0 turns it off.
 *   POST /__test__/reset                    clients, accounts, counts, faults and
 *        sessions/tokens all cleared, latency back to backchannel_delay_ms; keys
 *        are kept
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { promisify } from 'node:util';

const HOST = '127.0.0.1';
const CONTROL_PREFIX = '/__test__/';
const MAX_BODY_BYTES = 1024 * 1024;
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
// Claims an account's `claims` may add that providers send with `openid`: Entra
// ID's tenant, object id, UPN and email-domain-owner flag, Google's hosted domain.
const PROVIDER_CLAIMS = ['tid', 'oid', 'upn', 'xms_edov', 'hd'];
const SCOPE_CLAIMS = {
  openid: ['sub', ...PROVIDER_CLAIMS],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
  groups: ['groups'],
};
// An issuer whose path ends in /v2.0 is shaped like Microsoft Entra ID: no
// email_verified ever, and groups come with `openid` (Entra puts them in by the
// app's token configuration, not by a scope).
const ENTRA_SCOPE_CLAIMS = {
  ...SCOPE_CLAIMS,
  openid: ['sub', ...PROVIDER_CLAIMS, 'groups'],
  email: ['email'],
};

const configPath = process.argv[2] || process.env.IDP_CONFIG;
if (!configPath) {
  process.stderr.write('usage: node server.mjs CONFIG.json (or IDP_CONFIG=...)\n');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const quiet = config.quiet !== false;
if (quiet) {
  // oidc-provider prints notices about defaults and the runtime through console;
  // the fixture keeps stderr in a log file, so only real errors should reach it.
  console.info = () => {};
  console.warn = () => {};
}
const { Provider } = await import('oidc-provider');

const port = Number(config.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  throw new Error(`config.port must be a TCP port, got ${config.port}`);
}
const origin = `http://${HOST}:${port}`;
const issuerPaths = config.issuer_paths ?? ['', '/oauth2/default'];
const signingAlgs = config.signing_algs ?? ['RS256'];
// One set of cookie-signing keys for the process so that a provider rebuilt after a
// key rotation still reads the cookies of the sessions started before it.
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

/** @type {Map<string, object>} client_id -> client metadata */
const clients = new Map();
/** @type {Map<string, object>} sub -> account */
const accounts = new Map();
/** @type {Map<string, number>} URL path -> request count */
const counts = new Map();
/** @type {Map<string, object>} URL path -> injected answer */
const faults = new Map();
/** @type {object[]} private JWKs, the first one of each type signs */
let signingKeys = [];
/** @type {object[]} back-channel logouts sent: {client_id, sid, ok, error?} */
const backchannelLogouts = [];
/** @type {object[]} what each token request carried (see GET /__test__/token-requests) */
const tokenRequests = [];
const MAX_TOKEN_REQUESTS = 500;
/** ms every server-to-server request is held before it is handled */
let backchannelDelayMs = 0;

// ---------------------------------------------------------------- storage adapter

const GRANT_BOUND = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/** In-memory store for one issuer; unlike the bundled LRU it never evicts early. */
class Store {
  constructor() {
    this.entries = new Map();
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  *live(model) {
    const prefix = `${model}:`;
    for (const key of [...this.entries.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const payload = this.get(key);
      if (payload) yield [key, payload];
    }
  }

  clear() {
    this.entries.clear();
  }
}

/** Builds the oidc-provider adapter factory over `store`; clients come from `clients`. */
function adapterFactory(store, clockTolerance) {
  return class Adapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number'
        ? Date.now() + (expiresIn + clockTolerance) * 1000
        : undefined;
      store.entries.set(this.key(id), { payload: structuredClone(payload), expiresAt });
    }

    async find(id) {
      if (this.model === 'Client') {
        const metadata = clients.get(id);
        return metadata ? structuredClone(metadata) : undefined;
      }
      const payload = store.get(this.key(id));
      return payload ? structuredClone(payload) : undefined;
    }

    async findByUid(uid) {
      for (const [, payload] of store.live(this.model)) {
        if (payload.uid === uid) return structuredClone(payload);
      }
      return undefined;
    }

    async findByUserCode(userCode) {
      for (const [, payload] of store.live(this.model)) {
        if (payload.userCode === userCode) return structuredClone(payload);
      }
      return undefined;
    }

    async consume(id) {
      const payload = store.get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.entries.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const model of GRANT_BOUND) {
        for (const [key, payload] of store.live(model)) {
          if (payload.grantId === grantId) store.entries.delete(key);
        }
      }
    }
  };
}

// ---------------------------------------------------------------------- keys

const generateKeyPair = promisify(crypto.generateKeyPair);

/** Generates a private signing JWK with a fresh random `kid`. */
async function newSigningKey(alg) {
  let pair;
  if (alg === 'RS256') {
    pair = await generateKeyPair('rsa', { modulusLength: 2048 });
  } else if (alg === 'ES256') {
    pair = await generateKeyPair('ec', { namedCurve: 'P-256' });
  } else {
    throw new Error(`unsupported signing alg ${alg}; use RS256 or ES256`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `test-${alg.toLowerCase()}-${crypto.randomUUID()}` };
}

// ------------------------------------------------------------------ providers

function htmlEscape(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${htmlEscape(title)} - Test IdP</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>${body}</main></body>
</html>`;
}

function findAccount(_ctx, sub) {
  const account = accounts.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    // Read at token time so that set_groups() shows in the next ID token.
    async claims(use) {
      const current = accounts.get(sub) ?? account;
      const claims = {
        sub,
        email: current.email,
        email_verified: current.email_verified,
        preferred_username: current.email,
      };
      if (current.name != null) claims.name = current.name;
      if (current.groups != null) claims.groups = [...current.groups];
      Object.assign(claims, structuredClone(current.claims));
      for (const name of current.omit) delete claims[name];
      if (use === 'id_token') {
        for (const name of current.userinfo_only) delete claims[name];
      }
      return claims;
    },
  };
}

/** Approves every OpenID scope and claim the request asks for: consent is automatic. */
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId
    || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  grant ??= new oidc.provider.Grant({
    clientId: oidc.client.clientId,
    accountId: oidc.session.accountId,
  });
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<h1>Sign-in error</h1>
<p>Error: <code id="error">${htmlEscape(out.error)}</code></p>
<p id="error_description">${htmlEscape(out.error_description)}</p>`);
}

async function logoutSource(ctx, form) {
  // The form from oidc-provider holds the xsrf input; logout=yes ends the whole IdP
  // session the way Okta does for an RP-initiated logout with id_token_hint.
  const filled = form.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"/>'
      + '<button type="submit">Sign out</button></form>',
  );
  ctx.body = page('Sign out', `<h1>Signing you out</h1>${filled}
<script>document.getElementById('op.logoutForm').submit();</script>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<h1>You have been signed out</h1>');
}

/** The provider's outgoing requests (back-channel logout): loopback only. */
async function loopbackFetch(url, options) {
  const { hostname } = new URL(url);
  if (hostname !== 'localhost' && !LOOPBACK.has(hostname.replace(/^\[|\]$/g, ''))) {
    throw new Error(`the test IdP calls loopback URLs only, not ${hostname}`);
  }
  // The library's dispatcher refuses loopback addresses; this rule replaces it.
  const { dispatcher: _dispatcher, ...rest } = options;
  return globalThis.fetch(url, rest);
}

function providerConfig(mountPath) {
  const suffix = mountPath ? mountPath.replaceAll('/', '_') : '';
  const v1 = mountPath ? '/v1' : '/oauth2/v1';
  return {
    adapter: mounts.get(mountPath).adapter,
    claims: mountPath.endsWith('/v2.0') ? ENTRA_SCOPE_CLAIMS : SCOPE_CLAIMS,
    scopes: ['openid', 'offline_access', ...Object.keys(SCOPE_CLAIMS).slice(1)],
    conformIdTokenClaims: false,
    clientBasedCORS: () => false,
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    cookies: {
      keys: cookieKeys,
      names: {
        session: `_session${suffix}`,
        interaction: `_interaction${suffix}`,
        resume: `_interaction_resume${suffix}`,
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
    },
    fetch: loopbackFetch,
    findAccount,
    interactions: {
      url: (_ctx, interaction) => `${mountPath}/interaction/${interaction.uid}`,
    },
    jwks: { keys: signingKeys },
    loadExistingGrant,
    pkce: { required: () => true },
    renderError,
    responseTypes: ['code'],
    routes: {
      authorization: `${v1}/authorize`,
      token: `${v1}/token`,
      jwks: `${v1}/keys`,
      userinfo: `${v1}/userinfo`,
      end_session: `${v1}/logout`,
      revocation: `${v1}/revoke`,
      introspection: `${v1}/introspect`,
      pushed_authorization_request: `${v1}/par`,
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
  };
}

/** @type {Map<string, {path: string, issuer: string, store: Store, adapter: Function,
 *   provider?: object, callback?: Function}>} */
const mounts = new Map();

function buildProviders() {
  for (const mount of mounts.values()) {
    const provider = new Provider(mount.issuer, providerConfig(mount.path));
    provider.on('server_error', (_ctx, err) => {
      process.stderr.write(`idp ${mount.issuer} server_error: ${err.stack ?? err}\n`);
    });
    provider.on('backchannel.success', (_ctx, client, _accountId, sid) => {
      backchannelLogouts.push({ client_id: client.clientId, sid: sid ?? null, ok: true });
    });
    provider.on('backchannel.error', (_ctx, err, client, _accountId, sid) => {
      process.stderr.write(`idp ${mount.issuer} backchannel logout: ${err.message}\n`);
      backchannelLogouts.push({
        client_id: client.clientId, sid: sid ?? null, ok: false, error: err.message,
      });
    });
    provider.use(recordTokenRequest);
    provider.on('grant.error', (ctx, err) => {
      // Why client authentication failed: oidc-provider keeps it off the answer.
      const why = [err.error_detail];
      for (let cause = err.cause; cause; cause = cause.cause) why.push(cause.message);
      ctx.state.tokenErrorDetail = why.filter(Boolean).join(': ') || null;
    });
    mount.provider = provider;
    mount.callback = provider.callback();
  }
}

/** Koa middleware: remembers how each token request authenticated its client. */
async function recordTokenRequest(ctx, next) {
  let error = null;
  try {
    await next();
  } finally {
    if (ctx.method === 'POST' && ctx.path.endsWith('/token')) {
      const body = ctx.oidc?.body ?? {};
      if (ctx.status >= 400) error = ctx.body?.error ?? String(ctx.status);
      const authorization = ctx.headers.authorization ?? '';
      tokenRequests.push({
        path: ctx.originalUrl?.split('?')[0] ?? ctx.path,
        status: ctx.status,
        client_id: ctx.oidc?.client?.clientId ?? body.client_id ?? null,
        auth_scheme: authorization ? authorization.split(' ')[0] : null,
        body_keys: Object.keys(body).sort(),
        client_assertion: typeof body.client_assertion === 'string'
          ? body.client_assertion : null,
        error,
        error_detail: ctx.state.tokenErrorDetail ?? null,
      });
      if (tokenRequests.length > MAX_TOKEN_REQUESTS) tokenRequests.shift();
    }
  }
}

function mountFor(pathname) {
  let best;
  for (const mount of mounts.values()) {
    if (mount.path === '' || pathname === mount.path
        || pathname.startsWith(`${mount.path}/`)) {
      if (!best || mount.path.length > best.path.length) best = mount;
    }
  }
  return best;
}

// ------------------------------------------------------------- http helpers

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function delayMs(value) {
  const ms = Number(value ?? 0);
  if (!Number.isInteger(ms) || ms < 0 || ms > 60000) {
    throw new HttpError(400, `backchannel_ms must be an integer from 0 to 60000, got ${value}`);
  }
  return ms;
}

function send(res, status, body, contentType) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': contentType ?? 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function sendHtml(res, status, html) {
  send(res, status, html, 'text/html; charset=utf-8');
}

// -------------------------------------------------------------- interactions

function loginPage(uid, mount, { login = '', error } = {}) {
  const base = `${mount.path}/interaction/${encodeURIComponent(uid)}`;
  const alert = error ? `<p role="alert" id="login-error">${htmlEscape(error)}</p>` : '';
  return page('Sign in', `<h1>Sign in</h1>${alert}
<form method="post" action="${htmlEscape(base)}/login" id="login-form">
<p><label for="login">Email</label>
<input id="login" name="login" type="email" autocomplete="username" required autofocus
 value="${htmlEscape(login)}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required></p>
<p><button type="submit">Sign in</button></p>
</form>
<form method="post" action="${htmlEscape(base)}/abort" id="abort-form">
<p><button type="submit">Cancel</button></p>
</form>`);
}

function accountByCredentials(login, password) {
  const wanted = String(login ?? '').trim().toLowerCase();
  const account = [...accounts.values()].find(
    (candidate) => candidate.email.toLowerCase() === wanted,
  );
  // Compare digests so the comparison time does not depend on the password.
  const digest = (value) => crypto.createHash('sha256').update(String(value)).digest();
  const ok = account
    && crypto.timingSafeEqual(digest(account.password), digest(password ?? ''));
  return ok ? account : undefined;
}

async function grantEverything(provider, interaction) {
  const { prompt: { details }, params, session } = interaction;
  let grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : undefined;
  grant ??= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function handleInteraction(mount, req, res, uid, action) {
  const { provider } = mount;
  let interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch (err) {
    if (err.name === 'SessionNotFound') {
      sendHtml(res, 400, page('Sign-in expired', '<h1>This sign-in request expired</h1>'
        + '<p role="alert">Start again from the application.</p>'));
      return;
    }
    throw err;
  }
  if (interaction.uid !== uid) {
    sendHtml(res, 400, page('Sign-in mismatch', '<h1>Unknown sign-in request</h1>'));
    return;
  }

  if (action === '' && req.method === 'GET') {
    if (interaction.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, mount, { login: interaction.params.login_hint }));
      return;
    }
    if (interaction.prompt.name === 'consent') {
      const grantId = await grantEverything(provider, interaction);
      await provider.interactionFinished(req, res, { consent: { grantId } });
      return;
    }
    throw new HttpError(400, `unsupported prompt ${interaction.prompt.name}`);
  }

  if (action === 'login' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const account = accountByCredentials(form.get('login'), form.get('password'));
    if (!account) {
      sendHtml(res, 200, loginPage(uid, mount, {
        login: form.get('login') ?? '',
        error: 'Unable to sign in: the email or password is wrong.',
      }));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.sub, amr: ['pwd'] } },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  if (action === 'abort' && req.method === 'POST') {
    await readBody(req);
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted the sign-in' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  throw new HttpError(405, 'method not allowed');
}

// --------------------------------------------------------------- control API

function normalizeAccount(body) {
  const { sub, email } = body;
  if (typeof sub !== 'string' || !sub) throw new HttpError(400, 'sub is required');
  if (typeof email !== 'string' || !email) throw new HttpError(400, 'email is required');
  const groups = body.groups === undefined ? [] : body.groups;
  if (groups !== null && !(Array.isArray(groups)
      && groups.every((group) => typeof group === 'string'))) {
    throw new HttpError(400, 'groups must be a list of strings or null');
  }
  const claims = body.claims ?? {};
  if (typeof claims !== 'object' || Array.isArray(claims)) {
    throw new HttpError(400, 'claims must be an object');
  }
  const names = (key) => {
    const value = body[key] ?? [];
    if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) {
      throw new HttpError(400, `${key} must be a list of claim names`);
    }
    return value;
  };
  return {
    sub,
    email,
    email_verified: body.email_verified ?? true,
    groups,
    password: String(body.password ?? 'pw'),
    name: body.name ?? null,
    claims,
    omit: names('omit'),
    userinfo_only: names('userinfo_only'),
  };
}

async function upsertClient(body) {
  const metadata = { ...body };
  if (typeof metadata.client_id !== 'string' || !metadata.client_id) {
    throw new HttpError(400, 'client_id is required');
  }
  metadata.token_endpoint_auth_method ??= 'client_secret_basic';
  metadata.grant_types ??= metadata.token_endpoint_auth_method === 'none'
    ? ['authorization_code', 'refresh_token']
    : ['authorization_code', 'refresh_token', 'client_credentials'];
  metadata.response_types ??= ['code'];
  if (metadata.post_logout_redirect_uris == null) delete metadata.post_logout_redirect_uris;
  try {
    for (const mount of mounts.values()) {
      await mount.provider.Client.validate(metadata);
    }
  } catch (err) {
    const answer = new HttpError(400, err.error_description ?? err.message);
    answer.error = err.error ?? 'invalid_client_metadata';
    throw answer;
  }
  clients.set(metadata.client_id, metadata);
  return metadata;
}

function listSessions() {
  const sessions = [];
  for (const mount of mounts.values()) {
    for (const [, payload] of mount.store.live('Session')) {
      if (!payload.accountId) continue;
      const clientsOut = {};
      for (const [clientId, auth] of Object.entries(payload.authorizations ?? {})) {
        clientsOut[clientId] = { sid: auth.sid ?? null };
      }
      sessions.push({
        issuer: mount.issuer,
        uid: payload.uid,
        account_id: payload.accountId,
        login_ts: payload.loginTs ?? null,
        clients: clientsOut,
      });
    }
  }
  return sessions;
}

async function rotateKeys(body) {
  const algs = body.algs ?? signingAlgs;
  const fresh = [];
  for (const alg of algs) fresh.push(await newSigningKey(alg));
  signingKeys = body.keep_old ? [...fresh, ...signingKeys] : fresh;
  buildProviders();
  return { kids: fresh.map((key) => key.kid), all_kids: signingKeys.map((key) => key.kid) };
}

async function handleControl(req, res, url) {
  if (!LOOPBACK.has(req.socket.remoteAddress)) {
    throw new HttpError(403, 'the control API answers loopback callers only');
  }
  const route = `${req.method} ${url.pathname.slice(CONTROL_PREFIX.length - 1)}`;
  const raw = req.method === 'GET' ? '' : await readBody(req);
  let body = {};
  if (raw) {
    try {
      body = JSON.parse(raw);
    } catch {
      throw new HttpError(400, 'body must be JSON');
    }
  }
  let match;
  if (route === 'GET /health') {
    return send(res, 200, { ok: true, issuers: [...mounts.values()].map((m) => m.issuer) });
  }
  if (route === 'POST /clients') return send(res, 200, await upsertClient(body));
  if ((match = route.match(/^DELETE \/clients\/([^/]+)$/))) {
    return send(res, 200, { deleted: clients.delete(decodeURIComponent(match[1])) });
  }
  if (route === 'POST /accounts') {
    const account = normalizeAccount(body);
    accounts.set(account.sub, account);
    return send(res, 200, { ...account, password: undefined });
  }
  if ((match = route.match(/^PUT \/accounts\/([^/]+)\/groups$/))) {
    const sub = decodeURIComponent(match[1]);
    const account = accounts.get(sub);
    if (!account) throw new HttpError(404, `no account ${sub}`);
    accounts.set(sub, normalizeAccount({ ...account, groups: body.groups }));
    return send(res, 200, { sub, groups: accounts.get(sub).groups });
  }
  if ((match = route.match(/^DELETE \/accounts\/([^/]+)$/))) {
    return send(res, 200, { deleted: accounts.delete(decodeURIComponent(match[1])) });
  }
  if (route === 'GET /keys') return send(res, 200, { kids: signingKeys.map((k) => k.kid) });
  if (route === 'POST /keys/rotate') return send(res, 200, await rotateKeys(body));
  if (route === 'GET /counts') return send(res, 200, Object.fromEntries(counts));
  if (route === 'POST /counts/reset') {
    counts.clear();
    return send(res, 200, {});
  }
  if (route === 'GET /token-requests') return send(res, 200, tokenRequests);
  if (route === 'POST /token-requests/reset') {
    tokenRequests.length = 0;
    return send(res, 200, {});
  }
  if (route === 'GET /sessions') return send(res, 200, listSessions());
  if (route === 'POST /sessions/clear') {
    for (const mount of mounts.values()) mount.store.clear();
    return send(res, 200, {});
  }
  if (route === 'POST /faults') {
    if (typeof body.path !== 'string' || !Number.isInteger(body.status)) {
      throw new HttpError(400, 'path (string) and status (integer) are required');
    }
    faults.set(body.path, { ...body });
    return send(res, 200, {});
  }
  if (route === 'POST /faults/clear') {
    faults.clear();
    return send(res, 200, {});
  }
  if (route === 'GET /backchannel-logouts') return send(res, 200, backchannelLogouts);
  if (route === 'GET /latency') return send(res, 200, { backchannel_ms: backchannelDelayMs });
  if (route === 'POST /latency') {
    backchannelDelayMs = delayMs(body.backchannel_ms);
    return send(res, 200, { backchannel_ms: backchannelDelayMs });
  }
  if (route === 'POST /reset') {
    clients.clear();
    accounts.clear();
    counts.clear();
    tokenRequests.length = 0;
    faults.clear();
    backchannelLogouts.length = 0;
    backchannelDelayMs = delayMs(config.backchannel_delay_ms);
    for (const mount of mounts.values()) mount.store.clear();
    return send(res, 200, {});
  }
  throw new HttpError(404, `no control route ${route}`);
}

// ------------------------------------------------------------------- server

async function applyFault(res, fault) {
  if (fault.times != null) {
    fault.times -= 1;
    if (fault.times <= 0) faults.delete(fault.path);
  }
  if (fault.delay_ms) await new Promise((resolve) => setTimeout(resolve, fault.delay_ms));
  const body = fault.body ?? { error: 'injected_fault' };
  send(res, fault.status, body, fault.content_type);
}

/** The endpoints a relying party calls from its server, below a mount's path. */
function isBackchannel(mount, rest) {
  const v1 = mount.path ? '/v1' : '/oauth2/v1';
  return rest === '/.well-known/openid-configuration'
    || ['token', 'keys', 'userinfo', 'introspect', 'revoke', 'par']
      .some((name) => rest === `${v1}/${name}`);
}

async function dispatch(req, res) {
  const url = new URL(req.url, origin);
  const { pathname } = url;
  if (pathname.startsWith(CONTROL_PREFIX)) {
    await handleControl(req, res, url);
    return;
  }
  counts.set(pathname, (counts.get(pathname) ?? 0) + 1);
  const mount = mountFor(pathname);
  const rest = pathname.slice(mount.path.length);
  if (backchannelDelayMs && isBackchannel(mount, rest)) {
    // The network between the relying party's server and a distant IdP, as one
    // wait per request (the request and the answer legs together).
    await new Promise((resolve) => setTimeout(resolve, backchannelDelayMs));
  }
  const fault = faults.get(pathname);
  if (fault) {
    await applyFault(res, fault);
    return;
  }
  const interaction = rest.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
  if (interaction) {
    await handleInteraction(mount, req, res, decodeURIComponent(interaction[1]),
      interaction[2] ?? '');
    return;
  }
  if (mount.path) {
    // oidc-provider derives its mount path from originalUrl, as under express.
    req.originalUrl = req.url;
    req.url = req.url.slice(mount.path.length) || '/';
  }
  mount.callback(req, res);
}

function onRequest(req, res) {
  dispatch(req, res).catch((err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) process.stderr.write(`idp error: ${err.stack ?? err}\n`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, status, {
      error: err.error ?? (status === 500 ? 'server_error' : 'invalid_request'),
      error_description: err.message,
    });
  });
}

for (const path of issuerPaths) {
  const store = new Store();
  mounts.set(path, { path, issuer: `${origin}${path}`, store, adapter: adapterFactory(store, 15) });
}
signingKeys = await Promise.all(signingAlgs.map(newSigningKey));
backchannelDelayMs = delayMs(config.backchannel_delay_ms);
buildProviders();
for (const client of config.clients ?? []) await upsertClient(client);
for (const account of config.accounts ?? []) {
  const normalized = normalizeAccount(account);
  accounts.set(normalized.sub, normalized);
}

const server = http.createServer(onRequest);
server.keepAliveTimeout = 1000;

function shutdown() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Exit with the test run even if it dies without tearing down its fixtures.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) shutdown();
}, 500).unref();
if (config.exit_on_stdin_close) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}

server.on('error', (err) => {
  process.stderr.write(`idp cannot listen on ${origin}: ${err.message}\n`);
  process.exit(3);
});
server.listen(port, HOST, () => {
  process.stdout.write(`idp ready ${[...mounts.values()].map((m) => m.issuer).join(' ')}\n`);
});
