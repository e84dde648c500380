import type { FastifyInstance } from 'fastify';
import { requestBaseUrl } from '../request-context.js';
import { captureAnalysis, captureFilteredDownload, capturePackets } from '../services/analysis.js';
import type { ServerContext } from '../services/context.js';
import { getCapture } from '../services/packet-captures.js';
import { CAPTURES, type ArmParams } from './arm-paths.js';

/** Analysis routes under a capture (netwatcher extensions; shapes in src/model/analysis.ts). */
export function registerAnalysisRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams }>(`${CAPTURES}/:pc/analysis`, async (req) => {
    const { sub, rg, nw, pc } = req.params;
    return captureAnalysis(ctx, await getCapture(ctx, sub, rg, nw, pc), req.query, requestBaseUrl(req));
  });

  app.get<{ Params: ArmParams }>(`${CAPTURES}/:pc/packets`, async (req) => {
    const { sub, rg, nw, pc } = req.params;
    return capturePackets(ctx, await getCapture(ctx, sub, rg, nw, pc), req.query, requestBaseUrl(req));
  });

  app.get<{ Params: ArmParams }>(`${CAPTURES}/:pc/packets/pcap`, async (req, reply) => {
    const { sub, rg, nw, pc } = req.params;
    const file = await captureFilteredDownload(
      ctx,
      await getCapture(ctx, sub, rg, nw, pc),
      req.query,
      requestBaseUrl(req),
    );
    return reply
      .header('Content-Type', file.contentType)
      .header('Content-Disposition', `attachment; filename="${file.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      .send(file.stream);
  });
}
