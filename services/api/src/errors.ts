/** An error answered as `{"error": code, "message": message}` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** Stable machine-readable code, e.g. `unauthorized`, `bad-request`. */
    readonly code: string,
    message: string,
    /** Extra response headers (e.g. `retry-after`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: string;
  message: string;
}

/** The querystring schema of a route that takes no parameters: any parameter is a 400. */
export const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
