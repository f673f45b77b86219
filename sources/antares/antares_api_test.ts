import assert from "node:assert/strict";
import { join } from "node:path";
import { parseExact, stringifyExact } from "../../model/exact_json.ts";
import { fixturesDir, testWith } from "../../tests/_support.ts";
import { AntaresApi, AntaresApiError } from "./antares_api.ts";

const FIXTURES = fixturesDir();
const LOCUS = "ANT2026rq61krn5dipt";

interface ClientAlert {
  alert_id: string;
  mjd: number;
  processed_at: string | null;
  grav_wave_events: unknown[];
  properties: Record<string, unknown>;
}

/** What a test server saw of one request (a `Request` cannot be read after its answer). */
interface SeenRequest {
  method: string;
  url: URL;
  accept: string | null;
}

interface Served {
  /** Origin of the server, such as `http://127.0.0.1:40123`. */
  origin: string;
  /** Every request it answered, in order. */
  requests: SeenRequest[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** A loopback HTTP server that records each request and answers with `handler`. */
function serve(handler: (request: Request, index: number) => Response | Promise<Response>): Served {
  const requests: SeenRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      requests.push({
        method: request.method,
        url: new URL(request.url),
        accept: request.headers.get("accept"),
      });
      return handler(request, requests.length - 1);
    },
  );
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** Answer after `ms`, so a client with a shorter time limit gives up first. */
async function slowly(ms: number, answer: () => Response): Promise<Response> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return answer();
}

/** A JSON:API answer, written with exact integers as the real API writes them. */
function jsonApi(body: unknown, init: ResponseInit = {}): Response {
  return new Response(stringifyExact(body), {
    ...init,
    headers: { "content-type": "application/vnd.api+json", ...init.headers },
  });
}

function alertResource(alert: ClientAlert): Record<string, unknown> {
  return {
    type: "alert",
    id: alert.alert_id,
    attributes: {
      mjd: alert.mjd,
      processed_at: alert.processed_at,
      grav_wave_events: alert.grav_wave_events,
      properties: alert.properties,
    },
    links: { self: `https://api.antares.noirlab.edu/v1/alerts/${alert.alert_id}` },
  };
}

const ONE_ALERT = {
  data: [{
    type: "alert",
    id: "lsst:170587117485817955",
    attributes: {
      mjd: 61217.42118006405,
      processed_at: "2026-06-26T10:27:01.585000",
      properties: { ant_survey: 4, lsst_diaSource_diaSourceId: 170587117485817955n },
    },
  }],
  links: { self: "ignored" },
};

function api(origin: string, options: ConstructorParameters<typeof AntaresApi>[0] = {}) {
  return new AntaresApi({ baseUrl: `${origin}/v1/`, backoffMs: 1, ...options });
}

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "locusAlerts() follows links.next across pages and keeps ids above 2^53 exact",
  async fn() {
    const text = await Deno.readTextFile(join(FIXTURES!, "antares", "lsst", "alerts.json"));
    const alerts = parseExact(text) as ClientAlert[];
    await using server = serve((request) => {
      const page = new URL(request.url).searchParams.get("page[number]") ?? "1";
      if (page === "1") {
        return jsonApi({
          // A resource of another type in the list is skipped, not an error.
          data: [
            ...alerts.slice(0, 6).map(alertResource),
            { type: "locus", id: LOCUS, attributes: {} },
          ],
          links: { next: `${server.origin}/v1/loci/${LOCUS}/alerts?page[number]=2` },
        });
      }
      if (page === "2") {
        return jsonApi({
          data: alerts.slice(6, 12).map(alertResource),
          links: { next: `alerts?page[number]=3` }, // relative to this page
        });
      }
      return jsonApi({ data: alerts.slice(12).map(alertResource), links: { next: null } });
    });

    const resources = await api(server.origin).locusAlerts(LOCUS);
    assert.deepEqual(resources.map((resource) => resource.id), alerts.map((a) => a.alert_id));
    assert.equal(resources[0]!.id, "lsst:170587117485817955");
    assert.equal(resources[0]!.properties.lsst_diaSource_diaSourceId, 170587117485817955n);
    for (const [i, resource] of resources.entries()) {
      assert.deepEqual(resource.properties, alerts[i]!.properties);
      assert.equal(resource.mjd, alerts[i]!.mjd);
      assert.equal(resource.processedAt, alerts[i]!.processed_at);
    }
    assert.deepEqual(server.requests.map((request) => request.url.search), [
      "",
      "?page[number]=2",
      "?page[number]=3",
    ]);
    for (const request of server.requests) {
      assert.equal(request.url.pathname, `/v1/loci/${LOCUS}/alerts`);
      assert.equal(request.accept, "application/vnd.api+json");
      assert.equal(request.method, "GET");
    }
  },
});

Deno.test("locusAlerts() handles a base URL without a trailing slash and encodes the id", async () => {
  await using server = serve(() => jsonApi({ data: [] }));
  const resources = await api(server.origin, { baseUrl: `${server.origin}/v1` })
    .locusAlerts("ANT2026+x?y#z%2F");
  assert.deepEqual(resources, []);
  assert.equal(
    server.requests[0]!.url.pathname,
    "/v1/loci/ANT2026%2Bx%3Fy%23z%252F/alerts",
  );
});

Deno.test("locusAlerts() retries HTTP 500 and succeeds on the third request", async () => {
  await using server = serve((_request, index) =>
    index < 2 ? new Response("down", { status: 500 }) : jsonApi(ONE_ALERT)
  );
  const resources = await api(server.origin).locusAlerts(LOCUS);
  assert.equal(server.requests.length, 3);
  assert.equal(resources[0]!.properties.lsst_diaSource_diaSourceId, 170587117485817955n);
});

Deno.test("locusAlerts() gives up with AntaresApiError after retries + 1 attempts", async () => {
  await using server = serve(() => new Response("down", { status: 500 }));
  const started = performance.now();
  await assert.rejects(
    api(server.origin, { retries: 3 }).locusAlerts(LOCUS),
    (error: unknown) => {
      assert.ok(error instanceof AntaresApiError);
      assert.equal(
        error.message,
        `ANTARES API GET "${server.origin}/v1/loci/${LOCUS}/alerts" failed after 4 attempts: ` +
          "500 Internal Server Error",
      );
      assert.equal(error.status, 500);
      assert.equal(error.url, `${server.origin}/v1/loci/${LOCUS}/alerts`);
      assert.equal(error.attempts, 4);
      assert.equal(error.retriable, true);
      assert.equal(error.name, "AntaresApiError");
      return true;
    },
  );
  assert.equal(server.requests.length, 4);
  assert.ok(performance.now() - started < 2000, "backoff of 1, 2, 4 ms");
});

Deno.test("locusAlerts() does not retry a 404", async () => {
  await using server = serve(() => jsonApi({ errors: [{ status: "404" }] }, { status: 404 }));
  await assert.rejects(api(server.origin).locusAlerts(LOCUS), (error: unknown) => {
    assert.ok(error instanceof AntaresApiError);
    assert.equal(error.status, 404);
    assert.equal(error.retriable, false);
    assert.match(error.message, /failed after 1 attempt: 404 Not Found$/);
    return true;
  });
  assert.equal(server.requests.length, 1);
});

Deno.test("locusAlerts() waits as long as Retry-After asks", async () => {
  await using server = serve((_request, index) =>
    index === 0
      ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } })
      : jsonApi(ONE_ALERT)
  );
  const started = performance.now();
  await api(server.origin).locusAlerts(LOCUS);
  const elapsed = performance.now() - started;
  assert.equal(server.requests.length, 2);
  assert.ok(elapsed >= 950, `waited ${elapsed} ms, not the 1 s asked (backoff is 1 ms)`);
});

Deno.test("locusAlerts() caps a long Retry-After at maxBackoffMs", async () => {
  await using server = serve((_request, index) =>
    index === 0
      ? new Response("", { status: 503, headers: { "retry-after": "3600" } })
      : jsonApi(ONE_ALERT)
  );
  const started = performance.now();
  await api(server.origin, { maxBackoffMs: 50 }).locusAlerts(LOCUS);
  assert.equal(server.requests.length, 2);
  assert.ok(performance.now() - started < 2000);
});

Deno.test("locusAlerts() refuses a locus id that could steer the URL without any request", async () => {
  await using server = serve(() => jsonApi({ data: [] }));
  const client = api(server.origin);
  for (const id of ["../../etc", "..", ".", "a/b", "a\\b", "a\u0000b", "", "x\r\nHost: evil"]) {
    await assert.rejects(client.locusAlerts(id), TypeError, JSON.stringify(id));
  }
  assert.equal(server.requests.length, 0);
});

Deno.test("locusAlerts() retries an attempt that times out", async () => {
  await using server = serve((_request, index) =>
    index === 0 ? slowly(300, () => jsonApi(ONE_ALERT)) : jsonApi(ONE_ALERT)
  );
  const resources = await api(server.origin, { timeoutMs: 100 }).locusAlerts(LOCUS);
  assert.equal(resources.length, 1);
  assert.equal(server.requests.length, 2);
});

Deno.test("locusAlerts() reports a timeout on the last attempt as AntaresApiError", async () => {
  await using server = serve(() => slowly(300, () => jsonApi(ONE_ALERT)));
  await assert.rejects(
    api(server.origin, { timeoutMs: 50, retries: 1 }).locusAlerts(LOCUS),
    (error: unknown) => {
      assert.ok(error instanceof AntaresApiError);
      assert.equal(error.status, null);
      assert.equal(error.retriable, true);
      assert.match(error.message, /failed after 2 attempts: timed out after 50 ms$/);
      return true;
    },
  );
  assert.equal(server.requests.length, 2);
});

Deno.test("locusAlerts() retries a refused connection and then gives up", async () => {
  // A port that was just free: nothing listens there any more.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    api(`http://127.0.0.1:${port}`, { retries: 2 }).locusAlerts(LOCUS),
    (error: unknown) => {
      assert.ok(error instanceof AntaresApiError);
      assert.equal(error.status, null);
      assert.equal(error.attempts, 3);
      assert.equal(error.retriable, true);
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
});

Deno.test("locusAlerts() stops at once when the caller aborts during a backoff", async () => {
  await using server = serve(() => new Response("", { status: 500 }));
  const controller = new AbortController();
  const reason = new Error("run aborted");
  const pending = api(server.origin, { backoffMs: 10_000 }).locusAlerts(LOCUS, controller.signal);
  setTimeout(() => controller.abort(reason), 50);
  const started = performance.now();
  await assert.rejects(pending, (error: unknown) => error === reason);
  assert.ok(performance.now() - started < 2000);
  assert.equal(server.requests.length, 1);
});

Deno.test("locusAlerts() refuses links.next that leaves the API's origin", async () => {
  await using server = serve(() =>
    jsonApi({ ...ONE_ALERT, links: { next: "http://169.254.169.254/latest/meta-data" } })
  );
  await assert.rejects(api(server.origin).locusAlerts(LOCUS), (error: unknown) => {
    assert.ok(error instanceof AntaresApiError);
    assert.match(error.message, /"links\.next" leaves http:\/\/127\.0\.0\.1:\d+: "http:\/\/169/);
    assert.equal(error.retriable, false);
    return true;
  });
  assert.equal(server.requests.length, 1);
});

Deno.test("locusAlerts() refuses more than maxPages pages and a links.next loop", async () => {
  await using server = serve((request) => {
    const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
    return jsonApi({ ...ONE_ALERT, links: { next: `?page=${page + 1}` } });
  });
  await assert.rejects(
    api(server.origin, { maxPages: 3 }).locusAlerts(LOCUS),
    /gave an unusable answer: it has more than "3" pages$/,
  );
  assert.equal(server.requests.length, 3);

  await using looping = serve(() => jsonApi({ ...ONE_ALERT, links: { next: "?page=1" } }));
  await assert.rejects(
    api(looping.origin).locusAlerts(LOCUS),
    /"links\.next" revisits ".*\?page=1"$/,
  );
  assert.equal(looping.requests.length, 2);
});

Deno.test("locusAlerts() reports an answer that is not a JSON:API list of alerts", async () => {
  const answers = [
    [new Response("<html>maintenance</html>"), /it is not JSON: /],
    [jsonApi({ data: { type: "alert" } }), /"data" is not a list: a record$/],
    [
      jsonApi({ data: [{ type: "alert", id: "lsst:1", attributes: { properties: {} } }] }),
      /ANTARES resource field "data\[0\]\.attributes\.mjd" is missing$/,
    ],
  ] as const;
  for (const [answer, message] of answers) {
    await using server = serve(() => answer.clone());
    await assert.rejects(api(server.origin).locusAlerts(LOCUS), (error: unknown) => {
      assert.ok(error instanceof AntaresApiError);
      assert.match(error.message, message);
      assert.equal(error.retriable, false);
      return true;
    });
    assert.equal(server.requests.length, 1, "an unusable answer is not retried");
  }
});

Deno.test("locusAlerts() refuses an answer larger than maxResponseBytes", async () => {
  await using server = serve(() => jsonApi({ ...ONE_ALERT, padding: "x".repeat(10_000) }));
  await assert.rejects(
    api(server.origin, { maxResponseBytes: 1000 }).locusAlerts(LOCUS),
    /it is larger than "1000" bytes$/,
  );
});

Deno.test("AntaresApi refuses a base URL that is not http(s) and bad limits", () => {
  assert.throws(() => new AntaresApi({ baseUrl: "file:///etc/" }), TypeError);
  assert.throws(() => new AntaresApi({ baseUrl: "not a url" }), TypeError);
  assert.throws(() => new AntaresApi({ retries: -1 }), RangeError);
  assert.throws(() => new AntaresApi({ maxPages: 0 }), RangeError);
});
