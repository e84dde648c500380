/**
 * A server's in-memory tables belong to the server, not to one context object: a copy of the
 * context (a transaction's `{ ...ctx, store }`, a test's `{ ...ctx }`) shares them. They were
 * module-level WeakMaps keyed by the context, which gave every copy tables of its own: a capture
 * evaluated through a copy ran beside the one in flight instead of joining it, and a host
 * welcomed through a copy was unknown to the original's interval table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../lib/index.js';
import type { ResourceRecord } from '../../store/index.js';
import type { AgentHub } from '../agent-hub.js';
import { AgentBatchIntervals } from '../metric-batch-intervals.js';
import { newServerMemory, type ServerContext } from './context.js';
import { evaluateCapture } from './packet-captures.js';
import type { VmBody } from './vms.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const CAPTURE = `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.network/networkwatchers/nw/packetcaptures/pc`;
const VM = `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1`;

/** A context on a store that counts capture reads (the first step of every evaluation) and how many overlap. */
function countingContext() {
  const reads = { total: 0, inFlight: 0, mostAtOnce: 0 };
  const store = {
    getResource: async () => {
      reads.total++;
      reads.mostAtOnce = Math.max(reads.mostAtOnce, ++reads.inFlight);
      await sleep(20);
      reads.inFlight--;
      return null; // gone: the evaluation only finishes a pending delete
    },
    finishOperations: async () => 0,
    listResources: async () => [],
  };
  const ctx = {
    config: { subscriptionId: SUB, defaultLocation: 'westus', dataDir: '/nonexistent' },
    store,
    hub: { isConnected: () => true, sendLocal: () => 'sent' } as unknown as AgentHub,
    logger: createLogger({ level: 'silent', name: 'test' }),
    signingKey: Buffer.alloc(32),
    memory: newServerMemory(),
  } as unknown as ServerContext;
  ctx.batchIntervals = new AgentBatchIntervals(ctx);
  return { ctx, reads };
}

test('evaluations of one capture through copies of the context join the one in flight', async () => {
  const { ctx, reads } = countingContext();
  await Promise.all([
    evaluateCapture(ctx, CAPTURE),
    evaluateCapture({ ...ctx }, CAPTURE),
    evaluateCapture({ ...ctx, logger: ctx.logger }, CAPTURE),
  ]);
  // One run, and one follow-up shared by the two calls that arrived during it (coalesce.ts).
  assert.equal(reads.mostAtOnce, 1, 'no two evaluations of the capture ran at once');
  assert.equal(reads.total, 2);
});

test('a copied context sees the same batch-interval table: a host welcomed through the copy is known to the original', async () => {
  const { ctx } = countingContext();
  const copy = { ...ctx };
  await copy.batchIntervals.ready();
  const vm = {
    key: VM,
    id: VM,
    name: 'vm1',
    resourceGroup: 'rg',
    subscriptionId: SUB,
    location: 'westus',
    body: { properties: { vmId: 'vm-id-1', netwatcher: { hostname: 'vm1' } } },
  } as unknown as ResourceRecord<VmBody>;
  const welcome = copy.batchIntervals.welcome(vm);
  assert.equal(ctx.batchIntervals.announcedTo(VM), welcome.metricsBatchIntervalInSeconds);
  assert.equal(ctx.batchIntervals, copy.batchIntervals);
});
