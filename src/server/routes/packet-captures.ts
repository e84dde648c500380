import type { FastifyInstance } from 'fastify';
import { packetCaptureCreateSchema, parseRequest } from '../../model/index.js';
import { ApiError } from '../../lib/index.js';
import { replyAccepted, replyCreated } from '../lro.js';
import { requestBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import { openCaptureFile, openMergedCaptureFile } from '../services/download.js';
import { listCaptures, requestCaptureDelete, requestCaptureStop } from '../services/capture-requests.js';
import { captureStatusView, captureView, createCapture, getCapture } from '../services/packet-captures.js';
import { CAPTURES, type ArmParams } from './arm-paths.js';

/** Packet capture routes (PacketCaptures_*), with Azure's long-running-operation answers. */
export function registerPacketCaptureRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.put<{ Params: ArmParams }>(`${CAPTURES}/:pc`, async (req, reply) => {
    const request = parseRequest(packetCaptureCreateSchema, req.body, 'PacketCapture');
    const { sub, rg, nw, pc } = req.params;
    const { record, operation } = await createCapture(ctx, sub, rg, nw, pc, request, requestBaseUrl(req));
    // The operation may already be over (an agent that fails at once): the client still gets its
    // Azure-AsyncOperation.
    const view = await captureView(ctx, record, requestBaseUrl(req));
    return replyCreated(req, reply, operation, view);
  });

  app.get<{ Params: ArmParams }>(`${CAPTURES}/:pc`, async (req) => {
    const { sub, rg, nw, pc } = req.params;
    return captureView(ctx, await getCapture(ctx, sub, rg, nw, pc), requestBaseUrl(req));
  });

  app.get<{ Params: ArmParams }>(CAPTURES, async (req) => {
    const { sub, rg, nw } = req.params;
    const list = await listCaptures(ctx, sub, rg, nw);
    return { value: await Promise.all(list.map((r) => captureView(ctx, r, requestBaseUrl(req)))) };
  });

  app.delete<{ Params: ArmParams; Querystring: { deleteFiles?: string } }>(`${CAPTURES}/:pc`, async (req, reply) => {
    const { sub, rg, nw, pc } = req.params;
    const deleteFiles = String(req.query.deleteFiles ?? '').toLowerCase() === 'true';
    const op = await requestCaptureDelete(ctx, sub, rg, nw, pc, deleteFiles);
    // Nothing left to do (or nothing there: Azure's SDK throws on 404 here): 204, never 200 — the
    // Python SDK (so az) accepts only 202 and 204 here.
    return op ? replyAccepted(req, reply, op) : reply.code(204).send();
  });

  app.post<{ Params: ArmParams }>(`${CAPTURES}/:pc/stop`, async (req, reply) => {
    const { sub, rg, nw, pc } = req.params;
    const op = await requestCaptureStop(ctx, sub, rg, nw, pc);
    return op ? replyAccepted(req, reply, op) : reply.code(200).send();
  });

  // Azure answers queryStatus synchronously with 200 in practice; the SDK takes a 200 as done.
  app.post<{ Params: ArmParams }>(`${CAPTURES}/:pc/queryStatus`, async (req) => {
    const { sub, rg, nw, pc } = req.params;
    return captureStatusView(ctx, await getCapture(ctx, sub, rg, nw, pc), requestBaseUrl(req));
  });

  app.get<{ Params: ArmParams; Querystring: { instance?: string; merge?: string; format?: string; file?: string } }>(
    `${CAPTURES}/:pc/download`,
    async (req, reply) => {
      const { sub, rg, nw, pc } = req.params;
      const rec = await getCapture(ctx, sub, rg, nw, pc);
      if (String(req.query.merge ?? '').toLowerCase() === 'true') {
        const format = (req.query.format ?? 'pcapng').toLowerCase();
        if (format !== 'pcapng' && format !== 'pcap')
          throw new ApiError('InvalidParameter', `format '${req.query.format}' is not pcapng or pcap.`, {
            target: 'format',
          });
        if (req.query.instance !== undefined)
          throw new ApiError('InvalidParameter', 'merge takes every host: omit instance.', { target: 'instance' });
        if (req.query.file !== undefined)
          throw new ApiError(
            'InvalidParameter',
            "merge takes each host's one file: omit file (a continuous capture's ring files are downloaded one by one).",
            { target: 'file' },
          );
        const merged = await openMergedCaptureFile(ctx, rec, format, requestBaseUrl(req));
        return reply
          .header('Content-Type', format === 'pcapng' ? 'application/x-pcapng' : 'application/vnd.tcpdump.pcap')
          .header('Content-Disposition', `attachment; filename="${merged.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
          .send(merged.stream);
      }
      if (req.query.format !== undefined)
        throw new ApiError('InvalidParameter', 'format applies to a merged download (merge=true) only.', {
          target: 'format',
        });
      // `file`: one file of a continuous capture's ring (its name, e.g. ring-000003.cap).
      const file = await openCaptureFile(ctx, rec, req.query.instance, requestBaseUrl(req), req.query.file);
      return reply
        .header('Content-Type', 'application/vnd.tcpdump.pcap')
        .header('Content-Length', String(file.sizeInBytes))
        .header('Content-Disposition', `attachment; filename="${file.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
        .header('x-nw-content-sha256', file.sha256)
        .send(file.stream);
    },
  );
}
