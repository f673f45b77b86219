/**
 * The ANTARES HTTP API (no auth): the alerts of a locus, as JSON:API `alert` resources, read
 * with a BigInt-safe JSON parser, with retries for transient failures.
 *
 * @module
 */

import { parseExact } from "../../model/exact_json.ts";
import { SourceError, type SourceErrorOptions } from "../../model/errors.ts";
import { type AntaresAlertResource, parseAlertResource } from "../../formats/antares_alert.ts";
import { assertLocusId } from "../../formats/antares_locus.ts";
import { showValue } from "../../formats/_packet_fields.ts";

/** Options of {@linkcode AntaresApi}. */
export interface AntaresApiOptions {
  /** API root, with or without a trailing slash. Default `"https://api.antares.noirlab.edu/v1/"`. */
  baseUrl?: string;
  /** Retries after a failed attempt (HTTP 429, 5xx, network error, timeout). Default 4. */
  retries?: number;
  /** Wait before the first retry; it doubles on each further retry. Default 250 ms. */
  backoffMs?: number;
  /** Longest wait between attempts, also for a server's `Retry-After`. Default 30,000 ms. */
  maxBackoffMs?: number;
  /** Time limit of one attempt, the body included. Default 15,000 ms. */
  timeoutMs?: number;
  /** Most pages (`links.next`) one request may follow. Default 100. */
  maxPages?: number;
  /** Most bytes one answer may have. Default 64 MiB. */
  maxResponseBytes?: number;
}

/** Options of {@linkcode AntaresApiError}. */
export interface AntaresApiErrorOptions extends SourceErrorOptions {
  /** The URL of the failed request. */
  url: string;
  /** HTTP status of the last answer; `null` when there was none (network error, timeout). Default `null`. */
  status?: number | null;
  /** How many attempts were made. Default 1. */
  attempts?: number;
}

/**
 * An ANTARES API request failed: an HTTP error, a network error or timeout after every retry,
 * or an answer that is not the expected JSON:API document. `retriable` says whether trying
 * again later may help (429, 5xx, network).
 *
 * @example
 * ```ts
 * import { AntaresApiError } from "./antares_api.ts";
 * const url = "https://api.antares.noirlab.edu/v1/loci/X/alerts";
 * const error = new AntaresApiError(
 *   `ANTARES API GET "${url}" failed after 1 attempt: 404 Not Found`,
 *   { url, status: 404 },
 * );
 * error.retriable; // false
 * ```
 */
export class AntaresApiError extends SourceError {
  /** HTTP status of the last answer, or `null` when there was none. */
  readonly status: number | null;
  /** The URL of the failed request. */
  readonly url: string;
  /** How many attempts were made. */
  readonly attempts: number;

  /**
   * Create the error.
   *
   * @param message What failed.
   * @param options URL, status, attempts, whether retriable, and the cause.
   */
  constructor(message: string, options: AntaresApiErrorOptions) {
    super(message, options);
    this.name = "AntaresApiError";
    this.status = options.status ?? null;
    this.url = options.url;
    this.attempts = options.attempts ?? 1;
  }
}

const JSON_API = "application/vnd.api+json";

/**
 * A client of the ANTARES HTTP API. It never logs; failures are thrown.
 *
 * @example
 * ```ts ignore
 * import { AntaresApi } from "./antares_api.ts";
 * const api = new AntaresApi();
 * const alerts = await api.locusAlerts("ANT2026rq61krn5dipt");
 * alerts[0]?.id; // "lsst:170587117485817955"
 * ```
 */
export class AntaresApi {
  #base: URL;
  #retries: number;
  #backoffMs: number;
  #maxBackoffMs: number;
  #timeoutMs: number;
  #maxPages: number;
  #maxResponseBytes: number;

  /**
   * Create a client.
   *
   * @param options API root, retries, backoff, time limit, page and size limits.
   * @throws {TypeError} When `baseUrl` is not an http(s) URL.
   * @throws {RangeError} When a number option is out of range.
   */
  constructor(options: AntaresApiOptions = {}) {
    const baseUrl = options.baseUrl ?? "https://api.antares.noirlab.edu/v1/";
    // Without the trailing slash, relative resolution would drop the base's last segment
    // ("…/v1" + "loci/…" → "…/loci/…").
    const base = URL.parse(baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
    if (base === null || (base.protocol !== "https:" && base.protocol !== "http:")) {
      throw new TypeError(`ANTARES API base URL is not an http(s) URL: ${showValue(baseUrl)}`);
    }
    this.#base = base;
    this.#retries = _count(options.retries ?? 4, "retries", 0);
    this.#backoffMs = _count(options.backoffMs ?? 250, "backoffMs", 0);
    this.#maxBackoffMs = _count(options.maxBackoffMs ?? 30_000, "maxBackoffMs", 0);
    this.#timeoutMs = _count(options.timeoutMs ?? 15_000, "timeoutMs", 1);
    this.#maxPages = _count(options.maxPages ?? 100, "maxPages", 1);
    this.#maxResponseBytes = _count(
      options.maxResponseBytes ?? 64 * 1024 * 1024,
      "maxResponseBytes",
      1,
    );
  }

  /**
   * Every alert of a locus: `GET {baseUrl}loci/{locusId}/alerts`, following `links.next`.
   * Resources of other types are skipped; integers beyond 2^53 stay exact. HTTP 429, 5xx,
   * network errors and timeouts are retried with exponential backoff (`Retry-After` is
   * honoured, both capped by `maxBackoffMs`); other answers are not. `links.next` must stay on
   * the API's origin and may not revisit a page.
   *
   * @param locusId The locus, such as `ANT2026rq61krn5dipt`.
   * @param signal Aborts the request and any wait between attempts; it rejects with the
   * signal's reason.
   * @returns The alert resources, in the API's order.
   * @throws {TypeError} When the locus id could steer the URL (`/`, `..`, control characters);
   * no request is made.
   * @throws {AntaresApiError} When a request fails after its retries, or an answer is not a
   * JSON:API list of valid alerts.
   * @example
   * ```ts ignore
   * import { AntaresApi } from "./antares_api.ts";
   * const api = new AntaresApi({ retries: 2 });
   * const alerts = await api.locusAlerts("ANT2026rq61krn5dipt", AbortSignal.timeout(60_000));
   * ```
   */
  async locusAlerts(locusId: string, signal?: AbortSignal): Promise<AntaresAlertResource[]> {
    assertLocusId(locusId);
    let url = new URL(`loci/${encodeURIComponent(locusId)}/alerts`, this.#base);
    const visited = new Set<string>();
    const alerts: AntaresAlertResource[] = [];
    for (let page = 1;; page++) {
      visited.add(url.href);
      const { resources, next } = _page(await this.#getJson(url, signal), url);
      alerts.push(...resources);
      if (next === null) return alerts;

      const nextUrl = URL.parse(next, url);
      // The API only links to itself; following a link elsewhere would let an answer point
      // the client at any host.
      if (nextUrl === null || nextUrl.origin !== this.#base.origin) {
        throw _answerError(url, `"links.next" leaves ${this.#base.origin}: ${showValue(next)}`);
      }
      if (visited.has(nextUrl.href)) {
        throw _answerError(url, `"links.next" revisits "${nextUrl.href}"`);
      }
      if (page >= this.#maxPages) {
        throw _answerError(url, `it has more than "${this.#maxPages}" pages`);
      }
      url = nextUrl;
    }
  }

  async #getJson(url: URL, signal: AbortSignal | undefined): Promise<unknown> {
    const attempts = this.#retries + 1;
    let made = 0;
    let failure = { status: null as number | null, reason: "", cause: undefined as unknown };
    while (made < attempts) {
      signal?.throwIfAborted();
      made++;
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      let retryAfterMs: number | null = null;
      try {
        const response = await fetch(url, {
          headers: { accept: JSON_API },
          signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
        });
        if (response.ok) {
          const text = await _readText(response, url, this.#maxResponseBytes);
          try {
            return parseExact(text);
          } catch (error) {
            throw _answerError(url, `it is not JSON: ${_message(error)}`, error);
          }
        }
        // Release the connection: an unread body would hold it open.
        await response.body?.cancel();
        failure = {
          status: response.status,
          reason: `${response.status} ${response.statusText}`.trimEnd(),
          cause: undefined,
        };
        if (!_retriableStatus(response.status)) break;
        retryAfterMs = _retryAfterMs(response.headers.get("retry-after"));
      } catch (error) {
        if (error instanceof AntaresApiError) throw error;
        if (signal?.aborted) throw signal.reason;
        failure = {
          status: null,
          reason: timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : _message(error),
          cause: error,
        };
      }
      if (made < attempts) {
        const backoff = this.#backoffMs * 2 ** (made - 1);
        await _sleep(Math.min(retryAfterMs ?? backoff, this.#maxBackoffMs), signal);
      }
    }
    throw new AntaresApiError(
      `ANTARES API GET "${url.href}" failed after ${made} attempt${made === 1 ? "" : "s"}: ` +
        failure.reason,
      {
        url: url.href,
        status: failure.status,
        attempts: made,
        retriable: failure.status === null || _retriableStatus(failure.status),
        cause: failure.cause,
      },
    );
  }
}

function _page(
  body: unknown,
  url: URL,
): { resources: AntaresAlertResource[]; next: string | null } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw _answerError(url, `it is not a JSON:API document: ${showValue(body)}`);
  }
  const { data, links } = body as { data?: unknown; links?: unknown };
  if (!Array.isArray(data)) throw _answerError(url, `"data" is not a list: ${showValue(data)}`);
  const resources: AntaresAlertResource[] = [];
  for (let i = 0; i < data.length; i++) {
    let resource: AntaresAlertResource | null;
    try {
      resource = parseAlertResource(data[i], `data[${i}]`);
    } catch (error) {
      throw _answerError(url, _message(error), error);
    }
    if (resource !== null) resources.push(resource);
  }
  let next: unknown = null;
  if (links !== null && links !== undefined) {
    if (typeof links !== "object" || Array.isArray(links)) {
      throw _answerError(url, `"links" is not a record: ${showValue(links)}`);
    }
    next = (links as { next?: unknown }).next ?? null;
  }
  if (next !== null && typeof next !== "string") {
    throw _answerError(url, `"links.next" is not a string: ${showValue(next)}`);
  }
  return { resources, next };
}

// Reads the body in chunks so an oversized answer is refused before it is all in memory.
async function _readText(response: Response, url: URL, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw _answerError(url, `it is larger than "${maxBytes}" bytes`);
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel();
        throw _answerError(url, `it is larger than "${maxBytes}" bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw _answerError(url, "it is not UTF-8 text", error);
  }
}

function _retriableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

// Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3); anything else is ignored.
function _retryAfterMs(header: string | null): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function _sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function _answerError(url: URL, detail: string, cause?: unknown): AntaresApiError {
  return new AntaresApiError(`ANTARES API GET "${url.href}" gave an unusable answer: ${detail}`, {
    url: url.href,
    status: 200,
    retriable: false,
    cause,
  });
}

function _count(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `ANTARES API option "${name}" is not an integer of at least ${min}: ${showValue(value)}`,
    );
  }
  return value;
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
