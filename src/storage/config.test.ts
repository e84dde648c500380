import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseStorageBackendConfig,
  redactBackendConfig,
  storageBackendConfigSchema,
  parseAzureConnectionString,
  StorageConfigError,
} from './index.js';

const key = Buffer.from('a-very-secret-account-key').toString('base64');

describe('storageBackendConfigSchema', () => {
  test('local needs an absolute rootDir', () => {
    assert.deepEqual(parseStorageBackendConfig({ type: 'local', rootDir: '/var/lib/nw/storage' }), {
      type: 'local',
      rootDir: '/var/lib/nw/storage',
    });
    assert.throws(
      () => parseStorageBackendConfig({ type: 'local', rootDir: 'relative/dir' }),
      /rootDir: rootDir must be an absolute path/,
    );
    assert.throws(() => parseStorageBackendConfig({ type: 'local' }), /rootDir/);
  });

  test('azureBlob connection strings are normalized to an explicit endpoint', () => {
    const config = parseStorageBackendConfig({
      type: 'azureBlob',
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=${key};EndpointSuffix=core.windows.net`,
    });
    assert.deepEqual(config, {
      type: 'azureBlob',
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=${key};BlobEndpoint=https://acct1.blob.core.windows.net;`,
    });
  });

  test('azureBlob accepts accountName + accountKey (+ blobEndpoint) and normalizes to a connection string', () => {
    assert.deepEqual(parseStorageBackendConfig({ type: 'azureBlob', accountName: 'acct1', accountKey: key }), {
      type: 'azureBlob',
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=${key};BlobEndpoint=https://acct1.blob.core.windows.net;`,
    });
    const azurite = parseStorageBackendConfig({
      type: 'azureBlob',
      accountName: 'devstoreaccount1',
      accountKey: key,
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1/',
    });
    assert.equal(
      azurite.type === 'azureBlob' && parseAzureConnectionString(azurite.connectionString).blobEndpoint,
      'http://127.0.0.1:10000/devstoreaccount1',
    );
  });

  test('azureBlob errors name the field', () => {
    assert.throws(
      () =>
        parseStorageBackendConfig({
          type: 'azureBlob',
          connectionString: 'AccountName=acct1;SharedAccessSignature=sv=x',
        }),
      /connectionString: AccountKey is missing/,
    );
    assert.throws(
      () => parseStorageBackendConfig({ type: 'azureBlob', accountName: 'acct1' }),
      /accountKey: accountKey is required/,
    );
    assert.throws(
      () => parseStorageBackendConfig({ type: 'azureBlob', accountName: 'Bad_Name', accountKey: key }),
      /accountName: accountName must be 3-24/,
    );
    assert.throws(
      () =>
        parseStorageBackendConfig({
          type: 'azureBlob',
          connectionString: `AccountName=a;AccountKey=${key}`,
          accountKey: key,
        }),
      /connectionString: give either/,
    );
  });

  test('s3 defaults region, endpoint and path style, and checks the bucket name', () => {
    assert.deepEqual(
      parseStorageBackendConfig({ type: 's3', bucket: 'captures', accessKeyId: 'AKIA1', secretAccessKey: 's3cr3t' }),
      {
        type: 's3',
        endpoint: 'https://s3.us-east-1.amazonaws.com',
        region: 'us-east-1',
        bucket: 'captures',
        accessKeyId: 'AKIA1',
        secretAccessKey: 's3cr3t',
        forcePathStyle: false,
      },
    );
    assert.throws(
      () => parseStorageBackendConfig({ type: 's3', bucket: 'Bad_Bucket', accessKeyId: 'a', secretAccessKey: 'b' }),
      /bucket: bucket must be 3-63/,
    );
    assert.throws(
      () => parseStorageBackendConfig({ type: 's3', bucket: 'ok-bucket', accessKeyId: 'a' }),
      /secretAccessKey/,
    );
    assert.throws(
      () =>
        parseStorageBackendConfig({
          type: 's3',
          bucket: 'ok-bucket',
          accessKeyId: 'a',
          secretAccessKey: 'b',
          endpoint: 'ftp://x',
        }),
      /endpoint: endpoint must be an http\(s\) URL/,
    );
  });

  test('unknown kinds and misspelt fields are refused', () => {
    assert.throws(() => parseStorageBackendConfig({ type: 'gcs' }), /type must be one of local, azureBlob, s3/);
    assert.throws(() => parseStorageBackendConfig({ type: 'local', rootDir: '/x', rootdir: '/y' }), StorageConfigError);
    assert.equal(
      storageBackendConfigSchema.safeParse({
        type: 's3',
        bucket: 'ok-bucket',
        accessKeyId: 'a',
        secretAccessKey: 'b',
        forcePathStyle: 'yes',
      }).success,
      false,
    );
  });

  test("UseDevelopmentStorage=true means Azurite's default account", () => {
    assert.equal(
      parseAzureConnectionString('UseDevelopmentStorage=true').blobEndpoint,
      'http://127.0.0.1:10000/devstoreaccount1',
    );
  });
});

describe('redactBackendConfig', () => {
  test('drops every secret and keeps what identifies the account', () => {
    const azure = parseStorageBackendConfig({ type: 'azureBlob', accountName: 'acct1', accountKey: key });
    const redactedAzure = redactBackendConfig(azure);
    assert.deepEqual(redactedAzure, {
      type: 'azureBlob',
      accountName: 'acct1',
      blobEndpoint: 'https://acct1.blob.core.windows.net',
    });
    assert.doesNotMatch(JSON.stringify(redactedAzure), new RegExp(key.slice(0, 10)));
    const s3 = parseStorageBackendConfig({
      type: 's3',
      bucket: 'captures',
      accessKeyId: 'AKIA1',
      secretAccessKey: 's3cr3t-value',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
    });
    const redactedS3 = redactBackendConfig(s3);
    assert.doesNotMatch(JSON.stringify(redactedS3), /s3cr3t-value/);
    assert.equal(redactedS3.bucket, 'captures');
    assert.deepEqual(redactBackendConfig({ type: 'local', rootDir: '/data' }), { type: 'local', rootDir: '/data' });
  });
});
