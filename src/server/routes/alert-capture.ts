import type { FastifyError, FastifyInstance } from 'fastify';
import {
  ALERT_CAPTURE_PATH_PREFIX,
  ALERT_CAPTURE_PROVIDER,
  ALERT_PAYLOAD_MAX_BYTES,
  alertCaptureView,
  deleteAlertCapture,
  getAlertCapture,
  listAlertCaptureRuns,
  listAlertCaptures,
  putAlertCapture,
  regenerateAlertCaptureKey,
  triggerAlertCapture,
} from '../../alerts/index.js';
import { ApiError } from '../../lib/index.js';
import { alertCapturePutSchema, parseRequest } from '../../model/index.js';
import { requestBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import { RG, SUB, type ArmParams } from './arm-paths.js';

const ALERT_CAPTURES = `${RG}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`;

/** True for the public trigger path (it carries its own key instead of a bearer token). */
export function isAlertCaptureTriggerPath(lowerCasePath: string): boolean {
  return lowerCasePath.startsWith(`${ALERT_CAPTURE_PATH_PREFIX}/`);
}

/** Alert-capture endpoints as ARM-style resources: create (answers the keyed URL once), show, list, delete, regenerate the key, list runs. */
export function registerAlertCaptureRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const rt = () => ctx.alerts;
  app.put<{ Params: ArmParams }>(`${ALERT_CAPTURES}/:name`, async (req, reply) => {
    const input = parseRequest(alertCapturePutSchema, req.body ?? {}, 'AlertCapture');
    const baseUrl = (ctx.config.publicUrl ?? requestBaseUrl(req)).replace(/\/+$/, '');
    const { record, created, url } = await putAlertCapture(
      rt().context,
      rt().captures,
      req.params.sub,
      req.params.rg,
      req.params.name,
      input,
      baseUrl,
    );
    const view = alertCaptureView(record) as { properties: Record<string, unknown> };
    // The keyed URL appears in this answer only; the server keeps just its hash.
    return reply.code(created ? 201 : 200).send(url ? { ...view, properties: { ...view.properties, url } } : view);
  });
  app.get<{ Params: ArmParams }>(`${ALERT_CAPTURES}/:name`, async (req) =>
    alertCaptureView(await getAlertCapture(rt().context, req.params.sub, req.params.rg, req.params.name)),
  );
  app.get<{ Params: ArmParams }>(ALERT_CAPTURES, async (req) => ({
    value: (await listAlertCaptures(rt().context, req.params.sub, req.params.rg)).map(alertCaptureView),
  }));
  app.get<{ Params: ArmParams }>(`${SUB}/providers/${ALERT_CAPTURE_PROVIDER}/alertCaptures`, async (req) => ({
    value: (await listAlertCaptures(rt().context, req.params.sub)).map(alertCaptureView),
  }));
  app.delete<{ Params: ArmParams }>(`${ALERT_CAPTURES}/:name`, async (req, reply) => {
    const deleted = await deleteAlertCapture(rt().context, req.params.sub, req.params.rg, req.params.name);
    return reply.code(deleted ? 200 : 204).send();
  });
  app.post<{ Params: ArmParams }>(`${ALERT_CAPTURES}/:name/regenerateKey`, async (req) => {
    const rec = await getAlertCapture(rt().context, req.params.sub, req.params.rg, req.params.name);
    return { url: await regenerateAlertCaptureKey(rt().context, rec) };
  });
  app.get<{ Params: ArmParams }>(`${ALERT_CAPTURES}/:name/runs`, async (req) => {
    const rec = await getAlertCapture(rt().context, req.params.sub, req.params.rg, req.params.name);
    return { value: await listAlertCaptureRuns(rt().context, rec) };
  });
}

/**
 * The public trigger: `POST /alert-capture/v1/{sub}/{rg}/{name}?code=KEY` (or the key in
 * `x-functions-key`, as Azure Functions take it). Its own scope: any content type read as raw
 * bytes up to 256 KB, and its own error answers. The URL is never logged: its query is the key.
 */
export function registerAlertCaptureTrigger(app: FastifyInstance, ctx: ServerContext): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ALERT_PAYLOAD_MAX_BYTES }, (_req, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((error: FastifyError | ApiError, req, reply) => {
    let e: ApiError;
    if (error instanceof ApiError) e = error;
    else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new ApiError(
        'PayloadTooLarge',
        `The alert payload is larger than ${ALERT_PAYLOAD_MAX_BYTES} bytes (256 KB, Azure's limit).`,
      );
    else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
      e = new ApiError('InvalidRequestContent', `The request is not accepted: ${error.message}`);
    else {
      ctx.logger.error({ err: error, path: req.url.split('?')[0] }, 'alert-capture trigger failed');
      e = new ApiError(
        'InternalServerError',
        `An internal error occurred; see the server log for request id ${req.id}.`,
        { cause: error },
      );
    }
    return reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toBody());
  });
  app.post<{ Params: { sub: string; rg: string; name: string }; Querystring: { code?: string } }>(
    `${ALERT_CAPTURE_PATH_PREFIX}/:sub/:rg/:name`,
    async (req, reply) => {
      const header = req.headers['x-functions-key'];
      const presentedKey =
        typeof req.query.code === 'string' ? req.query.code : typeof header === 'string' ? header : null;
      const rt = ctx.alerts;
      const answer = await triggerAlertCapture(rt.context, rt.captures, {
        subscriptionId: req.params.sub,
        resourceGroup: req.params.rg,
        name: req.params.name,
        presentedKey,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        baseUrl: (ctx.config.publicUrl ?? requestBaseUrl(req)).replace(/\/+$/, ''),
      });
      return reply.code(answer.statusCode).send(answer.body);
    },
  );
}
