// node-oidc-provider with one client-credentials client, as a reference point for Latchkey's
// token endpoint in crates/latchkey/benches/token_load.rs. It issues RS256 JWT access tokens
// (as Latchkey does) over HTTPS with Latchkey's generated certificate, on 127.0.0.1 only.
// Usage: node server.mjs PORT CERT.pem KEY.pem   (prints "ready" once listening)
import https from 'node:https';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [port, cert, key] = process.argv.slice(2);
const issuer = `https://localhost:${port}`;
const provider = new Provider(issuer, {
  scopes: ['api:read'],
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-0123456789abcdef0123456789abcdef',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'api:read',
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api:read',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.proxy = false;
https
  .createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
