/**
 * Answers of the viewer's HTTP server: JSON with exact 64-bit ids, errors with a status and a
 * message, and the headers every answer carries.
 *
 * @module
 */

import { stringifyExact } from "../model/exact_json.ts";

/** A request the viewer refuses: 400 for a bad parameter, 404 for what does not exist. */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;

  /**
   * @param status The HTTP status.
   * @param message What was wrong, for the user.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

// Everything is served by this server itself: no CDN, no inline script.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * A response with the viewer's headers.
 *
 * @param body The body.
 * @param type Its content type.
 * @param init Status and extra headers.
 * @returns The response.
 */
export function respond(
  body: string | Uint8Array | null,
  type: string,
  init: { status?: number; headers?: Record<string, string> } = {},
): Response {
  // A Uint8Array over a plain ArrayBuffer, as every one here is; TypeScript cannot tell.
  return new Response(body as BodyInit | null, {
    status: init.status ?? 200,
    headers: { "content-type": type, ...SECURITY_HEADERS, ...init.headers },
  });
}

/**
 * A JSON response; `bigint` ids are written as exact integer literals.
 *
 * @param value The value.
 * @param status The HTTP status. Default 200.
 * @returns The response.
 */
export function json(value: unknown, status = 200): Response {
  return respond(stringifyExact(value), "application/json; charset=utf-8", {
    status,
    headers: { "cache-control": "no-store" },
  });
}
