import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { CliContext } from '../context.js';
import { azRecipeLines, printAzRecipe } from './az-recipe.js';

const SUB = '00000000-0000-0000-0000-000000000000';

function context(config: CliContext['config']): { ctx: CliContext; out: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { ctx: { config, out, err: out, fetch } as unknown as CliContext, out: () => text };
}

describe('az recipe', () => {
  test('trust, register with a trailing slash, select, log in with the token file (never the token)', () => {
    assert.deepEqual(
      azRecipeLines({
        serverUrl: 'https://nw.example:8817/',
        adminTokenPath: '/d/admin-token',
        subscriptionId: SUB,
        caFile: '/d/tls/cert.pem',
      }),
      [
        'export REQUESTS_CA_BUNDLE=/d/tls/cert.pem',
        'az cloud register --name netwatcher --endpoint-resource-manager https://nw.example:8817/',
        'az cloud set --name netwatcher',
        `az login --service-principal --username netwatcher --password "$(cat /d/admin-token)" --tenant ${SUB}`,
      ],
    );
  });

  test('nw server az-recipe finds the self-signed certificate of the data folder; refuses plain http', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nw-azr-'));
    try {
      mkdirSync(join(dir, 'tls'));
      writeFileSync(join(dir, 'tls', 'cert.pem'), 'x');
      const { ctx, out } = context({ server: 'https://127.0.0.1:8817', subscriptionId: SUB });
      await printAzRecipe({ dataDir: dir }, ctx);
      assert.match(
        out(),
        new RegExp(`^export REQUESTS_CA_BUNDLE=${join(dir, 'tls', 'cert.pem').replace(/[.]/g, '\\.')}\n`),
      );
      assert.match(out(), /--endpoint-resource-manager https:\/\/127\.0\.0\.1:8817\/\n/);
      const plain = context({ server: 'http://127.0.0.1:8817', subscriptionId: SUB });
      await assert.rejects(printAzRecipe({ dataDir: dir }, plain.ctx), /only over https/);
      assert.equal(plain.out(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
