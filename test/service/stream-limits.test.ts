import * as assert from "node:assert/strict";
import * as net from "node:net";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { StackRef, UpOperationOptions, UpResult } from "../../automation/engine/types";
import { startTestService, submit, type TestService, waitForJob } from "../helpers/service";
import { readEvents } from "../helpers/sse";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An engine whose `up`, after `delayMs` (time for a test to open its event stream), emits `count`
 * diagnostic events of about 2 KB each (a chatty program), then takes `upMs`.
 */
class ChattyEngine extends InMemoryEngine {
  constructor(
    private readonly count: number,
    upMs: number,
    private readonly delayMs = 0,
  ) {
    super({ defaults: { durations: { up: upMs } } });
  }

  override async up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    const padding = "x".repeat(2000);
    for (let index = 0; index < this.count; index++) {
      options.onEvent?.({
        sequence: index,
        timestamp: 0,
        diagnosticEvent: { message: `line ${index} ${padding}`, color: "never", severity: "info" },
      });
    }
    return super.up(stack, options);
  }
}

/** Polls `check` every 20 ms until it is true; false when `timeoutMs` passed first. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

/** A connection to the service that sent `request` and reads nothing (its socket is paused). */
function stalledClient(url: string, request: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.pause();
      socket.write(request);
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

/** The ids of the complete SSE messages in `text` (a message cut off by a closed stream is not one). */
function completeIds(text: string): number[] {
  const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
  return [...complete.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
}

describe("service connection and stream limits", function () {
  this.timeout(60_000);
  let service: TestService | undefined;

  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  const eventsRequest = (id: string, token: string) =>
    `GET /jobs/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`;

  describe("event stream backpressure", () => {
    it("drops the stream of a client that stops reading once its buffer passes the bound, while the job runs", async () => {
      service = await startTestService({ engine: new ChattyEngine(4000, 10_000, 500) });
      const { body } = await submit(service, "/rollouts", { stage: "dev" });
      const socket = await stalledClient(service.url, eventsRequest(body.id, service.token));
      try {
        assert.ok(await until(() => service!.service.metrics.openStreams() === 1, 2000), "no stream opened");
        const dropped = await until(() => service!.service.metrics.openStreams() === 0, 8000);
        assert.ok(dropped, "the stream of the client that reads nothing is still open");
        assert.equal(service.service.manager.get(body.id)?.state, "running");
      } finally {
        socket.destroy();
      }
    });

    it("lets the dropped client resume with Last-Event-ID and get every event once, ids contiguous", async () => {
      service = await startTestService({ engine: new ChattyEngine(4000, 3000, 500) });
      const { body } = await submit(service, "/rollouts", { stage: "dev" });
      const socket = await stalledClient(service.url, eventsRequest(body.id, service.token));
      assert.ok(await until(() => service!.service.metrics.openStreams() === 1, 2000), "no stream opened");
      assert.ok(await until(() => service!.service.metrics.openStreams() === 0, 8000), "not dropped");
      // The client reads again: what reached it before the drop, then the end of the connection.
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        text += chunk;
      });
      await new Promise<void>((resolve) => {
        socket.on("close", () => resolve());
        socket.resume();
      });
      const first = completeIds(text);
      assert.ok(first.length > 0, "some events arrived before the drop");
      assert.ok(first.length < 4000, `the drop cut the stream short (${first.length} events arrived)`);

      const rest = await readEvents(`${service.url}/jobs/${body.id}/events`, service.token, {
        lastEventId: first.at(-1),
      });
      const ids = [...first, ...rest.messages.map((message) => message.id!)];
      assert.deepEqual(
        ids,
        ids.map((_, index) => index + 1),
      );
      assert.equal(rest.status, 200, `resumed after ${first.at(-1)}`);
      const last = rest.messages.at(-1);
      assert.equal(last?.event, "job");
      assert.equal((last?.data as { state?: string } | undefined)?.state, "succeeded");
    });

    it("writes a long replay to a client that reads it, without dropping it", async () => {
      service = await startTestService({ engine: new ChattyEngine(4000, 0) });
      const { body } = await submit(service, "/rollouts", { stage: "dev" });
      await waitForJob(service, body.id);

      const read = await readEvents(`${service.url}/jobs/${body.id}/events`, service.token);
      const ids = read.messages.map((message) => message.id!);
      assert.ok(ids.length > 4000);
      assert.deepEqual(
        ids,
        ids.map((_, index) => index + 1),
      );
      assert.equal(read.messages.at(-1)?.event, "job");
    });
  });

  describe("connections", () => {
    it("closes a connection that sends no request within the idle timeout", async () => {
      service = await startTestService({ engine: new InMemoryEngine(), httpLimits: { idleMs: 300 } });
      const { hostname, port } = new URL(service.url);
      const socket = net.connect(Number(port), hostname);
      let closed = false;
      socket.on("close", () => {
        closed = true;
      });
      socket.on("error", () => {});
      try {
        assert.ok(await until(() => closed, 3000), "the idle connection is still open");
      } finally {
        socket.destroy();
      }
    });

    it("closes a connection whose headers trickle in slower than the headers timeout, with a JSON 408", async () => {
      service = await startTestService({
        engine: new InMemoryEngine(),
        httpLimits: { headersTimeoutMs: 500, idleMs: 5000 },
      });
      const { hostname, port } = new URL(service.url);
      const socket = net.connect(Number(port), hostname);
      socket.on("error", () => {});
      let answer = "";
      let closed = false;
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        answer += chunk;
      });
      socket.on("close", () => {
        closed = true;
      });
      socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      // A header byte every 100 ms keeps the connection from being idle, never finishing the headers.
      const trickle = setInterval(() => socket.write("X"), 100);
      try {
        assert.ok(await until(() => closed, 5000), "the slow sender is still connected");
        assert.match(answer, /^HTTP\/1\.1 408 /);
        assert.match(answer, /\{"message":"the request .* did not arrive in time"\}$/);
      } finally {
        clearInterval(trickle);
        socket.destroy();
      }
    });

    it("keeps an authorized event stream open past the idle timeout", async () => {
      service = await startTestService({
        engine: new InMemoryEngine({ defaults: { durations: { up: 3000 } } }),
        httpLimits: { idleMs: 300 },
      });
      const { body } = await submit(service, "/rollouts", { stage: "dev" });
      const controller = new AbortController();
      const reading = readEvents(`${service.url}/jobs/${body.id}/events`, service.token, {
        until: () => controller.signal.aborted,
      });
      await sleep(1000);
      assert.equal(service.service.metrics.openStreams(), 1);
      const read = await reading;
      assert.equal(read.messages.at(-1)?.event, "job");
    });

    it("holds at most maxConnections: a flood of idle connections closes the oldest idle ones and /healthz still answers", async () => {
      service = await startTestService({ engine: new InMemoryEngine(), httpLimits: { maxConnections: 20 } });
      const { hostname, port } = new URL(service.url);
      const flood: net.Socket[] = [];
      try {
        for (let index = 0; index < 200; index++) {
          const socket = net.connect(Number(port), hostname);
          socket.on("error", () => {});
          flood.push(socket);
        }
        await sleep(300);
        for (let probe = 0; probe < 5; probe++) {
          const response = await fetch(`${service.url}/healthz`);
          assert.equal(response.status, 200);
        }
        const open = await new Promise<number>((resolve, reject) =>
          service!.service.app.server.getConnections((error, count) =>
            error ? reject(error) : resolve(count),
          ),
        );
        assert.ok(open <= 20, `${open} connections open`);
      } finally {
        for (const socket of flood) socket.destroy();
      }
    });
  });
});
