// A real OpenID Provider for the OIDC tests: the `oidc-provider` package
// (installed by scripts/test), with one confidential client, PKCE (S256)
// required, refresh tokens for `offline_access`, a `groups` claim, test
// accounts with passwords, and minimal login and consent forms that a
// plain HTTP client can submit.
//
// Environment: OIDC_PROVIDER_MODULE (the package's directory, where
// scripts/test installed it), OIDC_PORT (listens on 127.0.0.1), OIDC_REDIRECT_URIS
// (comma-separated), OIDC_ACCESS_TTL (seconds, default 3600).
// Test control (not OIDC): POST /test/remove?account=NAME makes an account
// unknown (as if deleted at the provider), POST /test/restore?account=NAME
// brings it back.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(
  pathToFileURL(path.join(process.env.OIDC_PROVIDER_MODULE, 'lib', 'index.js')).href
);

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.OIDC_REDIRECT_URIS || '').split(',').filter(Boolean);
const accessTtl = Number(process.env.OIDC_ACCESS_TTL || 3600);

const accounts = {
  alice: { password: 'alice-Passw0rd', name: 'Alice Liddell', preferred_username: 'alice', email: 'alice@idp.test', groups: ['harbor-devs', 'staff'] },
  bob: { password: 'bob-Passw0rd', name: 'bob', preferred_username: 'bob', email: 'bob@idp.test', groups: ['harbor-admins'] },
  carol: { password: 'carol-Passw0rd', name: 'carol', preferred_username: 'carol', email: 'carol@idp.test', groups: [] },
  dave: { password: 'dave-Passw0rd', name: 'dave', preferred_username: 'dave', email: 'dave@idp.test', groups: ['harbor-devs'] },
  erin: { password: 'erin-Passw0rd', name: 'erin', preferred_username: 'erin', email: 'erin@idp.test', groups: ['harbor-devs'] },
};
const removed = new Set();

const configuration = {
  clients: [{
    client_id: 'harbor',
    client_secret: 'harbor-client-secret',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  // The claims in the ID token too, as many providers put them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['harbor-rs-test-cookie-key'] },
  ttl: { AccessToken: accessTtl, IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 86400 },
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  async findAccount(ctx, id) {
    const a = accounts[id];
    if (!a || removed.has(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: a.name, preferred_username: a.preferred_username, email: a.email, groups: a.groups };
      },
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
};

const provider = new Provider(issuer, configuration);
const oidc = provider.callback();

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(body))));
    req.on('error', reject);
  });
}

function page(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'interaction mismatch');
  const { prompt, params } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return page(res, 200, `<form method="post" action="/interaction/${uid}/login">
        <input name="login"><input name="password" type="password"><button>Sign in</button></form>`);
    }
    return page(res, 200, `<form method="post" action="/interaction/${uid}/confirm">
      <p>Allow ${params.client_id}?</p><button>Allow</button></form>`);
  }
  if (action === 'login') {
    const form = await readForm(req);
    const a = accounts[form.login];
    if (!a || removed.has(form.login) || a.password !== form.password) {
      return page(res, 401, 'wrong login or password');
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.login } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm') {
    await readForm(req);
    const { accountId } = details.session;
    let { grantId } = details;
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scope.join(' '));
    }
    grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return page(res, 404, 'no such step');
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm))?$/);
    if (m) return await interaction(req, res, m[1], m[2]);
    if (req.method === 'POST' && url.pathname === '/test/remove') {
      removed.add(url.searchParams.get('account'));
      res.writeHead(204); return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/test/restore') {
      removed.delete(url.searchParams.get('account'));
      res.writeHead(204); return res.end();
    }
    return oidc(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) page(res, 500, 'provider error');
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
