import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRingFileSize, minRingFileSizeInBytes, RING_LIMITS } from '../../capture/index.js';
import { ApiError } from '../../lib/index.js';
import {
  AGENT_MAX_RING_FILES_PER_STATE,
  CAPTURE_SETTINGS_LIMITS,
  effectiveCaptureSettings,
  packetCaptureCreateSchema,
  parseAgentToServer,
  parseServerToAgent,
  type PacketCaptureCreateRequest,
} from '../../model/index.js';
import { continuousRing, ringBlobLocation } from './packet-captures.js';
import type { CaptureInternal } from './capture-types.js';

const VM = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1';
const parse = (properties: Record<string, unknown>): PacketCaptureCreateRequest['properties'] =>
  packetCaptureCreateSchema.parse({
    properties: { target: VM, storageLocation: { localPath: '/var/captures/ring.cap' }, ...properties },
  }).properties;
const refusedWith = (target: string) => (e: unknown) =>
  e instanceof ApiError && e.code === 'InvalidParameter' && e.target === target;

describe('continuous capture rules (Azure §2.2–2.5)', () => {
  test("Azure's defaults fill in what is absent or 0", () => {
    assert.deepEqual(effectiveCaptureSettings(undefined), {
      fileCount: 10,
      fileSizeInBytes: 104857600,
      sessionTimeLimitInSeconds: 86400,
    });
    assert.deepEqual(continuousRing(parse({ continuousCapture: true })), {
      fileCount: 10,
      fileSizeInBytes: 104857600,
      sessionTimeLimitInSeconds: 86400,
    });
    assert.deepEqual(
      continuousRing(
        parse({ continuousCapture: true, captureSettings: { fileCount: 0, sessionTimeLimitInSeconds: 600 } }),
      ),
      { fileCount: 10, fileSizeInBytes: 104857600, sessionTimeLimitInSeconds: 600 },
    );
  });

  test('property names are case-insensitive, as in ARM', () => {
    assert.deepEqual(
      continuousRing(
        parse({
          ContinuousCapture: true,
          capturesettings: { FileCount: 3, filesizeinbytes: 1048576, SessionTimeLimitInSeconds: 60 },
          bytesToCapturePerPacket: 2000,
        }),
      ),
      { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 60 },
    );
  });

  test("Azure's limits are the schema's: ≤ 10,000 files, ≤ 4 GB a file, ≤ 604,800 s", () => {
    assert.deepEqual({ ...CAPTURE_SETTINGS_LIMITS }, { ...RING_LIMITS }, 'the model and the engine agree');
    for (const bad of [
      { fileCount: 10001 },
      { fileSizeInBytes: 4294967296 },
      { sessionTimeLimitInSeconds: 604801 },
      { fileCount: -1 },
      { fileCount: 2.5 },
    ]) {
      assert.equal(
        packetCaptureCreateSchema.safeParse({
          properties: { target: VM, storageLocation: {}, continuousCapture: true, captureSettings: bad },
        }).success,
        false,
        JSON.stringify(bad),
      );
    }
    assert.deepEqual(
      continuousRing(
        parse({
          continuousCapture: true,
          captureSettings: { fileCount: 10000, fileSizeInBytes: 4294967295, sessionTimeLimitInSeconds: 604800 },
        }),
      ),
      { fileCount: 10000, fileSizeInBytes: 4294967295, sessionTimeLimitInSeconds: 604800 },
    );
  });

  test('not continuous: no ring; captureSettings without continuousCapture true is refused', () => {
    assert.equal(continuousRing(parse({})), null);
    assert.equal(continuousRing(parse({ continuousCapture: false })), null);
    assert.equal(continuousRing(parse({ continuousCapture: null })), null);
    assert.throws(
      () => continuousRing(parse({ captureSettings: { fileCount: 3 } })),
      refusedWith('properties.captureSettings'),
    );
    assert.throws(
      () => continuousRing(parse({ continuousCapture: false, captureSettings: { fileCount: 3 } })),
      refusedWith('properties.captureSettings'),
    );
  });

  test('filePath is invalid whenever continuousCapture is true or false (localPath is the one)', () => {
    for (const continuousCapture of [true, false]) {
      assert.throws(
        () => continuousRing(parse({ continuousCapture, storageLocation: { filePath: '/var/captures/a.cap' } })),
        refusedWith('properties.storageLocation.filePath'),
      );
    }
    assert.equal(
      continuousRing(parse({ continuousCapture: null, storageLocation: { filePath: '/var/captures/a.cap' } })),
      null,
      'null is "not given"',
    );
  });

  test("the smallest file is the pcap header plus one whole record for the snap length; the issue's 1 MiB with whole packets is accepted", () => {
    assert.equal(minRingFileSizeInBytes(0), 262_184);
    assert.equal(minRingFileSizeInBytes(2000), 2_040);
    for (const snap of [0, 34, 2000, 65535, 262144, 300000]) {
      const min = minRingFileSizeInBytes(snap);
      assert.doesNotThrow(() => assertRingFileSize(min, snap), `snap ${snap}: the minimum works in the engine`);
      assert.throws(() => assertRingFileSize(min - 1, snap), RangeError, `snap ${snap}: one byte less does not`);
      assert.ok(
        continuousRing(
          parse({
            continuousCapture: true,
            captureSettings: { fileSizeInBytes: min },
            ...(snap === 0 ? {} : { bytesToCapturePerPacket: snap }),
          }),
        ),
        `snap ${snap}: the API accepts the minimum`,
      );
      assert.throws(
        () =>
          continuousRing(
            parse({
              continuousCapture: true,
              captureSettings: { fileSizeInBytes: min - 1 },
              ...(snap === 0 ? {} : { bytesToCapturePerPacket: snap }),
            }),
          ),
        (e: unknown) =>
          refusedWith('properties.captureSettings.fileSizeInBytes')(e) &&
          new RegExp(`the smallest is ${min}`).test((e as Error).message),
        `snap ${snap}: the API refuses one byte less, naming the field and the minimum`,
      );
    }
    assert.deepEqual(
      continuousRing(
        parse({
          continuousCapture: true,
          captureSettings: { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 },
        }),
      ),
      { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 },
    );
    assert.ok(
      continuousRing(
        parse({
          continuousCapture: true,
          captureSettings: { fileSizeInBytes: 1048576 },
          bytesToCapturePerPacket: 2000,
        }),
      ),
    );
    assert.throws(
      () => continuousRing(parse({ continuousCapture: true, captureSettings: { fileSizeInBytes: 100_000 } })),
      (e: unknown) =>
        refusedWith('properties.captureSettings.fileSizeInBytes')(e) && /262184/.test((e as Error).message),
    );
  });

  test('one file is refused (it would be deleted before it could be stored)', () => {
    assert.throws(
      () => continuousRing(parse({ continuousCapture: true, captureSettings: { fileCount: 1 } })),
      refusedWith('properties.captureSettings.fileCount'),
    );
    assert.ok(continuousRing(parse({ continuousCapture: true, captureSettings: { fileCount: 2 } })));
  });

  test('timeLimitInSeconds and totalBytesPerSession bound single files: refused unless their defaults (which clients send on their own)', () => {
    assert.throws(
      () => continuousRing(parse({ continuousCapture: true, timeLimitInSeconds: 60 })),
      refusedWith('properties.timeLimitInSeconds'),
    );
    assert.throws(
      () => continuousRing(parse({ continuousCapture: true, totalBytesPerSession: 1000 })),
      refusedWith('properties.totalBytesPerSession'),
    );
    assert.ok(
      continuousRing(parse({ continuousCapture: true, timeLimitInSeconds: 18000, totalBytesPerSession: 1073741824 })),
    );
  });

  test("ring blobs sit in a folder named after the capture's blob, named as on the host", () => {
    const internal = {
      storage: {
        accountKey: 'k',
        container: 'network-watcher-logs',
        blobPath:
          'subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1/2026/12/02/packetcapture_01_02_03_004.cap',
      },
      localFilePath: '/var/captures/ring.cap',
    } as CaptureInternal;
    assert.deepEqual(ringBlobLocation(internal, 7), {
      container: 'network-watcher-logs',
      blobPath:
        'subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1/2026/12/02/packetcapture_01_02_03_004/ring-000007.cap',
    });
    assert.equal(
      ringBlobLocation({ ...internal, localFilePath: null }, 1)!.blobPath.endsWith(
        'packetcapture_01_02_03_004/ring-000001.cap',
      ),
      true,
      'spooled rings are named ring-NNNNNN.cap',
    );
    assert.equal(ringBlobLocation({ ...internal, storage: null }, 1), null);
  });
});

describe('agent protocol: ring order and per-file state (additive)', () => {
  const order = {
    captureUid: 'u1',
    captureName: 'r',
    bpfExpression: '',
    snapLengthInBytes: 2000,
    totalBytesLimit: 1,
    timeLimitInSeconds: 1,
    localFilePath: null,
    upload: true,
  };
  const state = {
    captureUid: 'u1',
    status: 'Running',
    captureStartTime: null,
    stopReason: null,
    errors: [],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 0,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: null,
    sequence: 1,
  };
  const file = {
    sequence: 4,
    name: 'ring-000004.cap',
    sizeInBytes: 10,
    sha256: 'a'.repeat(64),
    packetsCaptured: 1,
    firstPacketTime: '2026-12-02T01:00:00.000Z',
    lastPacketTime: '2026-12-02T01:00:01.000Z',
    stored: false,
  };

  test('an order without ring (older servers) and with one both parse; a ring of one file does not', () => {
    assert.equal(parseServerToAgent(JSON.stringify({ type: 'capture.start', order })).ok, true);
    assert.equal(
      parseServerToAgent(
        JSON.stringify({
          type: 'capture.start',
          order: { ...order, ring: { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 } },
        }),
      ).ok,
      true,
    );
    assert.equal(
      parseServerToAgent(
        JSON.stringify({
          type: 'capture.start',
          order: { ...order, ring: { fileCount: 1, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 } },
        }),
      ).ok,
      false,
    );
  });

  test('a state lists ring files within bounds; uploads name a file by sequence only', () => {
    assert.equal(
      parseAgentToServer(
        JSON.stringify({
          type: 'capture.state',
          state: { ...state, ring: { oldestSequence: 4, filesDeleted: 3, files: [file] } },
        }),
      ).ok,
      true,
    );
    assert.equal(
      parseAgentToServer(
        JSON.stringify({
          type: 'capture.state',
          state: { ...state, ring: { oldestSequence: 0, filesDeleted: 0, files: [] } },
        }),
      ).ok,
      false,
      'sequences start at 1',
    );
    assert.equal(
      parseAgentToServer(
        JSON.stringify({
          type: 'capture.state',
          state: {
            ...state,
            ring: {
              oldestSequence: 1,
              filesDeleted: 0,
              files: Array.from({ length: AGENT_MAX_RING_FILES_PER_STATE + 1 }, () => file),
            },
          },
        }),
      ).ok,
      false,
    );
    assert.equal(
      parseAgentToServer(
        JSON.stringify({
          type: 'upload.request',
          requestId: 'r1',
          captureUid: 'u1',
          sizeInBytes: 10,
          sha256: 'a'.repeat(64),
          ringFileSequence: 4,
        }),
      ).ok,
      true,
    );
    assert.equal(
      parseAgentToServer(
        JSON.stringify({
          type: 'upload.request',
          requestId: 'r1',
          captureUid: 'u1',
          sizeInBytes: 10,
          sha256: 'a'.repeat(64),
          ringFileSequence: '../x',
        }),
      ).ok,
      false,
    );
  });
});
