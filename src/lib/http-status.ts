/**
 * True for HTTP statuses worth retrying with the same request: 408 (timeout), 429 (throttled)
 * and 5xx. Any other 4xx means the receiver refused this request for good. One rule for storage
 * uploads and webhook deliveries (Alertmanager's rule too).
 * @example isRetryableHttpStatus(503) === true && isRetryableHttpStatus(404) === false
 */
export function isRetryableHttpStatus(statusCode: number): boolean {
  return statusCode === 408 || statusCode === 429 || statusCode >= 500;
}
