import { ISO_DURATION_PATTERN } from '../model/index.js';

/** A duration that is neither ISO 8601 (`PT5M`) nor az's short form (`5m`). */
export class InvalidDurationError extends Error {
  constructor(text: string) {
    super(`'${text}' is not a duration: use ISO 8601 (PT1M, PT5S, P1D) or a number with a unit (5m, 30s, 1h, 1d)`);
    this.name = 'InvalidDurationError';
  }
}

/**
 * Seconds of an ISO 8601 duration of days, hours, minutes and seconds.
 * @example isoDurationToSeconds('PT5M') // 300
 */
export function isoDurationToSeconds(text: string): number {
  const m = ISO_DURATION_PATTERN.exec(text.trim());
  if (!m || /^PT?$/i.test(text.trim())) throw new InvalidDurationError(text);
  const [, d, h, min, s] = m;
  return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
}

/**
 * The ISO 8601 form of a number of seconds, in the largest exact units (`PT1M`, not `PT60S`).
 * @example secondsToIsoDuration(90) // 'PT1M30S'
 */
export function secondsToIsoDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidDurationError(String(seconds));
  let rest = seconds;
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest -= minutes * 60;
  const secs = Math.round(rest * 1000) / 1000;
  let time = '';
  if (hours) time += `${hours}H`;
  if (minutes) time += `${minutes}M`;
  if (secs) time += `${secs}S`;
  return `P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`;
}

/**
 * az's duration arguments (`--window-size 5m`, `--evaluation-frequency 1m`): a number and one of
 * s, m, h, d; ISO 8601 is accepted too. Seconds are a netwatcher addition (for tests).
 * @example parseDurationToSeconds('5m') // 300
 */
export function parseDurationToSeconds(text: string): number {
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/i.exec(t);
  if (m) {
    const n = Number(m[1]);
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd'];
    if (n <= 0) throw new InvalidDurationError(text);
    return n * unit;
  }
  if (/^P/i.test(t)) return isoDurationToSeconds(t);
  throw new InvalidDurationError(text);
}
