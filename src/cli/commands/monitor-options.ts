import { UsageError } from '../errors.js';

/** Option values of the monitoring commands, in az's syntax. */

/**
 * az's period arguments (`--window-size 5m`, `--evaluation-frequency 1m`, `--interval 1h30m`):
 * `##d##h##m##s` in any combination, as ISO 8601 for the API. ISO 8601 passes through; seconds
 * are a netwatcher addition (tests use `5s`).
 * @example toIsoDuration('--window-size', '5m') // 'PT5M'
 */
export function toIsoDuration(flag: string, value: string): string {
  const text = value.trim();
  if (/^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$/i.test(text) && !/^PT?$/i.test(text))
    return text.toUpperCase();
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/i.exec(text);
  if (!m || text === '' || m.slice(1).every((g) => g === undefined)) {
    throw new UsageError(
      `argument ${flag}: invalid period '${value}': use ##d##h##m##s (e.g. 5m, 30s, 1h) or ISO 8601 (PT5M)`,
    );
  }
  const [d, h, min, s] = m.slice(1).map((g) => Number(g ?? 0)) as [number, number, number, number];
  if (d + h + min + s === 0) throw new UsageError(`argument ${flag}: the period '${value}' is zero`);
  const time = `${h ? `${h}H` : ''}${min ? `${min}M` : ''}${s ? `${s}S` : ''}`;
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/**
 * az's `KEY=VALUE` lists (`--tags`, webhook properties).
 * @example parseKeyValues('--tags', ['team=net', 'env=prod']) // { team: 'net', env: 'prod' }
 */
export function parseKeyValues(flag: string, items: readonly string[] | undefined): Record<string, string> | undefined {
  if (!items || items.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new UsageError(`argument ${flag}: expected KEY=VALUE, got '${item}'`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}
