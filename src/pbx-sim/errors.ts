/** An ARI failure: the HTTP status and the `{"message": ...}` text Asterisk answers with. */
export class AriError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AriError';
  }
}
