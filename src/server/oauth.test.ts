import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from '../store/index.js';
import { openTestDatabase } from '../store/testing/engines.js';
import {
  ACCESS_TOKEN_PREFIX,
  accessTokenKey,
  exchangeClientCredentials,
  mintAccessToken,
  OAuthError,
  readAccessToken,
  verifyAccessToken,
} from './oauth.js';

describe('OAuth access tokens', async () => {
  const { db, drop } = await openTestDatabase('pglite');
  after(() => drop());
  const store = new Store(db);
  const key = accessTokenKey(randomBytes(32));

  test('the client-credentials grant trades the admin credential for a signed, expiring token bound to it', async () => {
    const { token: admin } = await store.issueToken('admin');
    const answer = await exchangeClientCredentials(store, key, {
      grant_type: 'client_credentials',
      client_id: 'netwatcher',
      client_secret: admin,
      scope: 'https://h//.default',
    });
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.expires_in, 3600);
    assert.ok(answer.access_token.startsWith(ACCESS_TOKEN_PREFIX));
    assert.notEqual(answer.access_token, admin, 'the credential itself is never handed back');
    const info = await verifyAccessToken(store, key, answer.access_token);
    assert.equal(info?.kind, 'admin');
    assert.equal(info?.id, (await store.verifyToken(admin))?.id, 'bound to the credential it came from');
  });

  test('a wrong secret, another grant, a missing secret or an access token as the secret are refused with OAuth errors', async () => {
    const refusal = async (form: unknown) => {
      try {
        await exchangeClientCredentials(store, key, form);
      } catch (error) {
        assert.ok(error instanceof OAuthError);
        return { code: error.code, status: error.statusCode };
      }
      assert.fail('accepted');
    };
    assert.deepEqual(await refusal({ grant_type: 'client_credentials', client_secret: 'nwa_wrong' }), {
      code: 'invalid_client',
      status: 401,
    });
    assert.deepEqual(await refusal({ grant_type: 'password', client_secret: 'x' }), {
      code: 'unsupported_grant_type',
      status: 400,
    });
    assert.deepEqual(await refusal({ grant_type: 'client_credentials' }), { code: 'invalid_request', status: 400 });
    assert.deepEqual(await refusal('not a form'), { code: 'invalid_request', status: 400 });
    const { token: admin } = await store.issueToken('admin');
    const { access_token } = await exchangeClientCredentials(store, key, {
      grant_type: 'client_credentials',
      client_secret: admin,
    });
    assert.deepEqual(
      await refusal({ grant_type: 'client_credentials', client_secret: access_token }),
      { code: 'invalid_client', status: 401 },
      'no token laundering',
    );
    // Agent credentials are not clients.
    const { token: agent } = await store.issueToken('agent', { vmKey: 'vmkey1' });
    assert.deepEqual(await refusal({ grant_type: 'client_credentials', client_secret: agent }), {
      code: 'invalid_client',
      status: 401,
    });
  });

  test('tampered, foreign-key, expired and malformed tokens are refused', async () => {
    const client = { principalKind: 'admin' as const, credentialId: 'c1' };
    const { accessToken } = mintAccessToken(key, client);
    assert.ok(readAccessToken(key, accessToken));
    const [payload, sig] = accessToken.slice(ACCESS_TOKEN_PREFIX.length).split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), exp: 9_999_999_999 }),
    ).toString('base64url');
    assert.equal(readAccessToken(key, `${ACCESS_TOKEN_PREFIX}${forged}.${sig}`), null, 'changed claims');
    assert.equal(readAccessToken(accessTokenKey(randomBytes(32)), accessToken), null, 'another server key');
    const old = mintAccessToken(key, client, Date.now() - 3601_000).accessToken;
    assert.equal(readAccessToken(key, old), null, 'expired');
    for (const bad of [
      '',
      ACCESS_TOKEN_PREFIX,
      `${ACCESS_TOKEN_PREFIX}a.b.c`,
      `${ACCESS_TOKEN_PREFIX}${payload}`,
      `nwa_${payload}.${sig}`,
    ])
      assert.equal(readAccessToken(key, bad), null, bad);
  });

  test('an access token dies with its credential (revoked or expired), before its own expiry', async () => {
    const { token: revocable } = await store.issueToken('admin', { vmKey: 'revoke-me' });
    const a = (
      await exchangeClientCredentials(store, key, { grant_type: 'client_credentials', client_secret: revocable })
    ).access_token;
    assert.ok(await verifyAccessToken(store, key, a));
    await store.revokeTokens('admin', 'revoke-me');
    assert.equal(await verifyAccessToken(store, key, a), null, 'revoked credential');

    const { token: shortLived } = await store.issueToken('admin', { expiresAt: new Date(Date.now() + 800) });
    const b = (
      await exchangeClientCredentials(store, key, { grant_type: 'client_credentials', client_secret: shortLived })
    ).access_token;
    assert.ok(await verifyAccessToken(store, key, b));
    await sleep(1000);
    assert.equal(await verifyAccessToken(store, key, b), null, 'expired credential');
  });
});
