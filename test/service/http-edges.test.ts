import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { readServeEnvironment } from "../../automation/commands/serve";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { hostAllowed } from "../../automation/service/http/guard";
import { startTestService, submit, type TestService } from "../helpers/service";

/** An HTTP answer as raw bytes show it: status, headers (lower-cased) and the parsed JSON body. */
interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Sends `request` as written on a new connection and reads the answer until the server closes. */
function sendRaw(url: string, request: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      data += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      const [head, ...body] = data.split("\r\n\r\n");
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(
        lines.map((line) => [
          line.slice(0, line.indexOf(":")).toLowerCase(),
          line.slice(line.indexOf(":") + 1).trim(),
        ]),
      );
      resolve({ status: Number(statusLine.split(" ")[1]), headers, text: body.join("\r\n\r\n") });
    });
  });
}

/** A request with a Host header of our choosing (fetch does not let one set it). */
function requestWithHost(url: string, pathname: string, host: string, token?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}${pathname}`,
      { headers: { host, ...(token ? { authorization: `Bearer ${token}` } : {}) } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers as Record<string, string>,
            text,
          }),
        );
      },
    );
    request.on("error", reject);
    request.end();
  });
}

/** Asserts the one error shape: JSON with a `message` matching `pattern`. */
function assertMessage(answer: { headers: Record<string, string>; text: string }, pattern: RegExp): void {
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["message"], `the body is { message }: ${answer.text}`);
  assert.match(String(body.message), pattern);
}

describe("service HTTP edges", function () {
  this.timeout(30_000);
  let service: TestService;
  let engine: InMemoryEngine;

  beforeEach(async () => {
    engine = new InMemoryEngine({ defaults: { durations: { up: 2000 } } });
    service = await startTestService({ engine, allowedHosts: ["platform.example.com"] });
  });
  afterEach(async () => {
    await service.close();
  });

  const get = (pathname: string, extra = "") =>
    sendRaw(
      service.url,
      `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${service.token}\r\n${extra}Connection: close\r\n\r\n`,
    );

  describe("one error shape", () => {
    it("answers a malformed percent-encoding in the URL with 400 and a message naming the url", async () => {
      const answer = await get("/jobs/%E0%A4%A");
      assert.equal(answer.status, 400);
      assertMessage(answer, /^url .*percent-encoding/);
    });

    it("answers a path segment longer than the router allows with 414 and a message naming the url", async () => {
      const answer = await get(`/jobs/${"a".repeat(200)}`);
      assert.equal(answer.status, 414);
      assertMessage(answer, /^url .*longer than 100/);
    });

    it("answers a request that is not HTTP with 400 and a JSON message", async () => {
      const answer = await sendRaw(service.url, "GARBAGE\r\n\r\n");
      assert.equal(answer.status, 400);
      assertMessage(answer, /method|HTTP/);
    });

    it("answers headers over 16 KiB with 431 and a JSON message", async () => {
      const answer = await get("/healthz", `X-Padding: ${"a".repeat(20_000)}\r\n`);
      assert.equal(answer.status, 431);
      assertMessage(answer, /^headers .*16 KiB/);
    });

    it("answers a text/plain body with 415 naming JSON", async () => {
      const response = await service.request("/previews", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ stage: "dev" }),
      });
      assert.equal(response.status, 415);
      assertMessage(
        {
          headers: { "content-type": response.headers.get("content-type") ?? "" },
          text: await response.text(),
        },
        /^body must be JSON/,
      );
    });

    it("answers a body over 64 KiB with 413 naming the limit", async () => {
      const response = await service.request("/previews", {
        method: "POST",
        body: JSON.stringify({ stage: "dev", padding: "a".repeat(70_000) }),
      });
      assert.equal(response.status, 413);
      assert.match(
        ((await response.json()) as { message: string }).message,
        /^body is larger than 65536 bytes/,
      );
    });

    for (const key of ["__proto__", "constructor"]) {
      it(`reports "${key}" in a body as an unknown property, and starts no job`, async () => {
        const response = await service.request("/previews", {
          method: "POST",
          body: `{"stage":"dev","${key}":{"queue":true}}`,
        });
        assert.equal(response.status, 400);
        assert.equal(
          ((await response.json()) as { message: string }).message,
          `body has an unknown property "${key}"`,
        );
        assert.equal(engine.calls.length, 0);
      });
    }

    for (const limit of ["0x10", "1e1", "5.0", "%2010", "+5"]) {
      it(`refuses limit=${limit} in a query string (decimal digits only), naming the parameter`, async () => {
        const response = await service.request(`/jobs?limit=${limit}`);
        assert.equal(response.status, 400);
        assert.equal(
          ((await response.json()) as { message: string }).message,
          "querystring.limit must be a decimal integer",
        );
      });
    }

    it("still reads a decimal query number", async () => {
      const response = await service.request("/jobs?limit=10");
      assert.equal(response.status, 200);
    });
  });

  describe("API response headers", () => {
    for (const [what, pathname, status] of [
      ["a JSON answer", "/stacks", 200],
      ["a 404", "/jobs/nope", 404],
      ["a 400", "/jobs?limit=0x1", 400],
      ["/metrics", "/metrics", 200],
    ] as const) {
      it(`sends Cache-Control: no-store and X-Content-Type-Options: nosniff with ${what}`, async () => {
        const response = await service.request(pathname);
        assert.equal(response.status, status);
        assert.equal(response.headers.get("cache-control"), "no-store");
        assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      });
    }

    it("sends them with a 401 too", async () => {
      const response = await fetch(`${service.url}/stacks`);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    });

    it("keeps the dashboard's own caching (revalidated, not no-store)", async () => {
      const response = await fetch(`${service.url}/`);
      assert.equal(response.headers.get("cache-control"), "no-cache");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    });
  });

  describe("Host allow-list (DNS rebinding)", () => {
    it("refuses a Host that is another name with 403, naming PLATFORM_ALLOWED_HOSTS", async () => {
      const answer = await requestWithHost(
        service.url,
        "/stacks",
        "rebind.attacker.example:8080",
        service.token,
      );
      assert.equal(answer.status, 403);
      assertMessage(answer, /Host "rebind\.attacker\.example:8080" .*PLATFORM_ALLOWED_HOSTS/);
    });

    it("refuses it on the public endpoints too (the dashboard page, /healthz)", async () => {
      for (const pathname of ["/", "/healthz"]) {
        assert.equal((await requestWithHost(service.url, pathname, "rebind.attacker.example")).status, 403);
      }
    });

    for (const host of ["localhost", "LOCALHOST:1234", "127.0.0.1", "[::1]:80", "platform.example.com:443"]) {
      it(`answers Host ${host} (local, the listening address, or allowed)`, async () => {
        const answer = await requestWithHost(service.url, "/stacks", host, service.token);
        assert.equal(answer.status, 200);
      });
    }

    it("answers an address as Host when the connection was made to it, and no other address", () => {
      const allowed = hostAllowed([]);
      assert.equal(allowed("10.1.2.3:8080", "::ffff:10.1.2.3"), true);
      assert.equal(allowed("[fd00::5]:8080", "fd00::5"), true);
      assert.equal(allowed("10.1.2.4:8080", "10.1.2.3"), false);
    });

    it("refuses an HTTP/1.1 request without Host with 400 and a JSON message", async () => {
      const answer = await sendRaw(service.url, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.equal(answer.status, 400);
      assertMessage(answer, /^Host header is required/);
    });

    it("reads PLATFORM_ALLOWED_HOSTS as names separated by commas, plus HOST when it is a name", () => {
      const env = readServeEnvironment(
        { PLATFORM_ALLOWED_HOSTS: "a.example.com, b.example.com", HOST: "platform.internal" },
        PROJECT_DIR,
      );
      assert.deepEqual(env.allowedHosts, ["a.example.com", "b.example.com", "platform.internal"]);
    });

    it("rejects a PLATFORM_ALLOWED_HOSTS entry with a port, naming the key", () => {
      assert.throws(
        () => readServeEnvironment({ PLATFORM_ALLOWED_HOSTS: "a.example.com:8080" }, PROJECT_DIR),
        /PLATFORM_ALLOWED_HOSTS must be host names without ports.*"a\.example\.com:8080"/,
      );
    });
  });

  describe("HEAD of an event stream", () => {
    it("answers at once with the stream's headers and no body, and holds no stream", async () => {
      const { body } = await submit(service, "/rollouts", { stage: "dev" });
      const started = performance.now();
      const response = await service.request(`/jobs/${body.id}/events`, { method: "HEAD" });
      assert.ok(performance.now() - started < 1000, "answered before the job ended");
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
      assert.equal(await response.text(), "");
      assert.equal(service.service.metrics.openStreams(), 0);
      assert.equal(
        ((await service.request(`/jobs/${body.id}`).then((r) => r.json())) as { state: string }).state,
        "running",
      );
    });

    it("answers 404 for an unknown job", async () => {
      const response = await service.request("/jobs/nope/events", { method: "HEAD" });
      assert.equal(response.status, 404);
    });
  });

  describe("5xx answers", () => {
    it("logs a 5xx on standard error as one JSON line with method, route, job, error and stack", async () => {
      const { body } = await submit(service, "/previews", { stage: "dev" });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const store = service.service.store;
      const manager = service.service.manager;
      const original = { getJobJson: store.getJobJson, activeJobJson: manager.activeJobJson };
      store.getJobJson = () => {
        throw new Error("disk exploded");
      };
      manager.activeJobJson = () => undefined;
      const lines: string[] = [];
      const write = process.stderr.write;
      process.stderr.write = ((chunk: string) => {
        lines.push(String(chunk));
        return true;
      }) as typeof process.stderr.write;
      let response: Response;
      try {
        response = await service.request(`/jobs/${body.id}`);
      } finally {
        process.stderr.write = write;
        store.getJobJson = original.getJobJson;
        manager.activeJobJson = original.activeJobJson;
      }
      assert.equal(response.status, 500);
      assert.equal(lines.length, 1, lines.join(""));
      assert.ok(lines[0].endsWith("\n"));
      const logged = JSON.parse(lines[0]) as Record<string, unknown>;
      assert.equal(logged.level, "error");
      assert.equal(logged.status, 500);
      assert.equal(logged.method, "GET");
      assert.equal(logged.route, "/jobs/:id");
      assert.equal(logged.jobId, body.id);
      assert.equal(logged.error, "disk exploded");
      assert.match(String(logged.stack), /disk exploded\n\s+at /);
    });
  });
});
