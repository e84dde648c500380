/**
 * The closed set of API error codes. Every error the API returns carries one of these in
 * `{"error":{"code","message","target"}}` (ARM's ErrorResponse shape), so clients can branch
 * on them; docs/api.md lists them. Adding a code is an API change.
 */
export const API_ERROR_CODES = {
  AuthenticationFailed: 401,
  Forbidden: 403,
  AuthorizationFailed: 403,
  InvalidRequestContent: 400,
  InvalidParameter: 400,
  InvalidFilter: 400,
  FilterTooLarge: 400,
  InvalidFilePath: 400,
  InvalidResourceId: 400,
  InvalidResourceName: 400,
  MissingRequiredProperty: 400,
  SessionLimitReached: 400,
  AgentNotInstalled: 400,
  AgentNotConnected: 400,
  StorageAccountNotFound: 400,
  PrincipalNotFound: 400,
  RoleDefinitionDoesNotExist: 400,
  InvalidEnrollmentToken: 401,
  InvalidJoinKey: 401,
  ResourceNotFound: 404,
  NotFound: 404,
  PacketCaptureNotFound: 404,
  VirtualMachineNotFound: 404,
  NetworkWatcherNotFound: 404,
  OperationNotFound: 404,
  FileNotAvailable: 409,
  OperationNotSupported: 409,
  Conflict: 409,
  PacketCaptureNameInUse: 409,
  RoleAssignmentExists: 409,
  VirtualMachineNameInUse: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InternalServerError: 500,
  AgentUnavailable: 503,
  DatabaseUnavailable: 503,
  IdentityProviderUnavailable: 503,
  StorageFull: 507,
} as const;

/** One of the API's stable error codes. */
export type ApiErrorCode = keyof typeof API_ERROR_CODES;

/** The one error type of the API: a stable code, its HTTP status, a message naming what is wrong, and the offending field. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly target: string | undefined;

  constructor(code: ApiErrorCode, message: string, options: { target?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = API_ERROR_CODES[code];
    this.target = options.target;
  }

  /** The ARM ErrorResponse body. */
  toBody(): { error: { code: string; message: string; target?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.target ? { target: this.target } : {}) } };
  }
}
