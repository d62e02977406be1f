/** Why the do-not-call service refused; the API maps each code to its HTTP status (src/api/errors.ts). */
export type DncErrorCode = 'invalid_request' | 'invalid_number' | 'not_found' | 'dnc_deployment_list';

export class DncError extends Error {
  constructor(
    readonly code: DncErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DncError';
  }
}
