// How the portal writes figures, times and the API's codes in plain words.

/** Bytes in B/KiB/MiB/GiB. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** A count with thousands separators. */
export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US');
}

/** "12 s ago", "3 min ago", or the date. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}

/** A time of day with the date. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Why a capture stopped, as a sentence (Azure's stopReason codes). */
export function stopReasonText(reason: string | null | undefined): string {
  switch (reason) {
    case undefined:
    case null:
    case '':
      return '';
    case 'TimeExceeded':
      return 'Stopped: the time limit was reached.';
    case 'SizeExceeded':
      return 'Stopped: the total size limit was reached.';
    case 'Manual':
      return 'Stopped by a user.';
    case 'AgentStopped':
      return 'Stopped: the agent stopped.';
    default:
      return `Stopped: ${reason}.`;
  }
}

/** What a packetCaptureError code means. */
export function captureErrorText(code: string): string {
  switch (code) {
    case 'InternalError':
      return 'An internal error happened on the server or agent.';
    case 'AgentStopped':
      return 'The agent on the host stopped during the capture.';
    case 'CaptureFailed':
      return 'tcpdump could not capture on the host.';
    case 'LocalFileFailed':
      return 'The capture file could not be written on the host.';
    case 'StorageFailed':
      return 'The capture file could not be stored; it is kept on the host.';
    default:
      return code;
  }
}
