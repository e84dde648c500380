import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { storageAccountBody, storageBackendOf } from './storage-account.js';

describe('storage account create body', () => {
  test('local is the default; az account kinds mean local', () => {
    assert.deepEqual(storageAccountBody({ name: 'a', resourceGroup: 'rg' }), {
      location: 'local',
      kind: 'StorageV2',
      properties: { backend: { type: 'local' } },
    });
    assert.equal(storageBackendOf({ kind: 'StorageV2' }), 'local');
    assert.equal(storageBackendOf({ kind: 'S3' }), 's3');
    assert.equal(storageBackendOf({ kind: 'local', backend: 'azureblob' }), 'azureBlob');
    assert.throws(() => storageBackendOf({ backend: 'gcs' }), UsageError);
  });

  test('azureBlob needs a connection string', () => {
    assert.throws(() => storageAccountBody({ kind: 'azureBlob' }), /--connection-string/);
    assert.deepEqual(
      storageAccountBody({ kind: 'azureBlob', connectionString: 'UseDevelopmentStorage=true', location: 'westus' }),
      {
        location: 'westus',
        kind: 'StorageV2',
        properties: { backend: { type: 'azureBlob', connectionString: 'UseDevelopmentStorage=true' } },
      },
    );
  });

  test('azureBlob also takes account name + key (+ blob endpoint), but not together with a connection string', () => {
    assert.deepEqual(
      storageAccountBody({
        kind: 'azureBlob',
        accountName: 'acct',
        accountKey: 'a2V5',
        blobEndpoint: 'http://10.0.0.1:10000/acct',
      }).properties,
      {
        backend: {
          type: 'azureBlob',
          accountName: 'acct',
          accountKey: 'a2V5',
          blobEndpoint: 'http://10.0.0.1:10000/acct',
        },
      },
    );
    assert.deepEqual(storageAccountBody({ kind: 'azureBlob', accountName: 'acct', accountKey: 'a2V5' }).properties, {
      backend: { type: 'azureBlob', accountName: 'acct', accountKey: 'a2V5' },
    });
    assert.throws(() => storageAccountBody({ kind: 'azureBlob', accountName: 'acct' }), /--account-key/);
    assert.throws(
      () =>
        storageAccountBody({
          kind: 'azureBlob',
          accountName: 'acct',
          accountKey: 'a2V5',
          connectionString: 'UseDevelopmentStorage=true',
        }),
      UsageError,
    );
  });

  test('s3 needs bucket and keys; endpoint, region and path style are passed when given', () => {
    assert.throws(() => storageAccountBody({ kind: 's3', bucket: 'b', accessKeyId: 'id' }), /--secret-access-key/);
    assert.deepEqual(
      storageAccountBody({
        kind: 's3',
        bucket: 'b',
        accessKeyId: 'id',
        secretAccessKey: 'k',
        endpoint: 'http://127.0.0.1:9000',
        region: 'us-east-1',
        pathStyle: 'true',
      }).properties,
      {
        backend: {
          type: 's3',
          bucket: 'b',
          accessKeyId: 'id',
          secretAccessKey: 'k',
          endpoint: 'http://127.0.0.1:9000',
          region: 'us-east-1',
          forcePathStyle: true,
        },
      },
    );
  });
});
