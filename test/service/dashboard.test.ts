import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { startTestService, type TestService, waitForJob } from "../helpers/service";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = path.join(__dirname, "..", "..", "test-output", "dashboard.png");
const PROD_STACKS: Record<string, string> = {
  "us-east-1": "prod",
  "us-west-2": "prod-us-west-2",
  "eu-west-1": "prod-eu-west-1",
};
const PROD_REGIONS = Object.keys(PROD_STACKS);
const ROLLOUT_GATES = ["preview", "up", "health"];
/** Generous: the waits end as soon as the page shows what they wait for. */
const TIMEOUT_MS = 20_000;

/** What the page's SseParser made of some chunks (see the parser test). */
interface ParsedMessages {
  messages: unknown[];
  retry: number;
  ended: unknown[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `ok` accepts its value; fails with the last value seen after `timeoutMs`. */
async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      assert.fail(`${what}: not seen in ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await sleep(50);
  }
}

/** The text of every element the selector matches (no waiting), whitespace trimmed. */
async function texts(page: Page, selector: string): Promise<string[]> {
  return (await page.locator(selector).allTextContents()).map((text) => text.replace(/\s+/g, " ").trim());
}

/** `{ "<region> <gate>": text }` of the job view's gate cells ("missing" when there is no cell). */
async function gateStates(page: Page, regions: string[], gates: string[]): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const region of regions) {
    for (const gate of gates) {
      const [text] = await texts(page, `#job-regions tr[data-region="${region}"] [data-gate="${gate}"]`);
      states[`${region} ${gate}`] = text ?? "missing";
    }
  }
  return states;
}

async function jobState(page: Page): Promise<string> {
  return (await texts(page, "#job-state"))[0] ?? "missing";
}

/** The job id the page shows (its URL is `#jobs/<id>` while a job is open). */
function openJobId(page: Page): string {
  const match = /#jobs\/(.+)$/.exec(page.url());
  assert.ok(match, `no job open (url ${page.url()})`);
  return decodeURIComponent(match[1]);
}

describe("service dashboard", () => {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  /** For the tests that start no job. */
  let shared: TestService | undefined;
  /** Services a test started (each rollout test has its own: a stack rolled out once is up to date). */
  let started: TestService[] = [];
  let pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(
        `    skipping the dashboard tests: chromium not installed at ${CHROMIUM} (apt-get install chromium)`,
      );
      this.skip();
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    shared = await startTestService({ engine: new InMemoryEngine() });
  });

  after(async () => {
    await browser?.close();
    await shared?.close();
  });

  beforeEach(async () => {
    pageErrors = [];
    context = await browser?.newContext({ viewport: { width: 1280, height: 900 } });
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    await Promise.all(started.map((service) => service.close()));
    started = [];
  });

  /** A service of its own whose `up` takes `upMs` (fast: the rollout ends in about a second). */
  async function serviceWithUp(upMs: number): Promise<TestService> {
    const service = await startTestService({
      engine: new InMemoryEngine({ defaults: { durations: { preview: 150, up: upMs } } }),
    });
    started.push(service);
    return service;
  }

  /** A fresh page (fresh sessionStorage) on the dashboard, its script errors recorded. */
  async function openDashboard(service: TestService): Promise<Page> {
    assert.ok(context, "no browser context");
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(service.url);
    return page;
  }

  async function connect(page: Page, token: string): Promise<void> {
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Connect" }).click();
  }

  /** Opens the dashboard and connects with the service's token; resolves once the grid shows. */
  async function connected(service: TestService): Promise<Page> {
    const page = await openDashboard(service);
    await connect(page, service.token);
    await page.locator('#stacks-grid td[data-stage="prod"][data-region="us-east-1"]').waitFor();
    return page;
  }

  async function startProdRollout(page: Page): Promise<string> {
    await page.getByLabel("Stage").selectOption("prod");
    await page.locator("#start-rollout").click();
    await page.locator("#job-view").waitFor();
    await page.waitForURL(/#jobs\//);
    return openJobId(page);
  }

  it("asks for the API token, then shows the grid with a row per stage and prod's three regions", async () => {
    const page = await openDashboard(shared!);
    await page.getByLabel("API token").waitFor();
    assert.equal(await page.locator("#app").isVisible(), false, "the dashboard stays hidden without a token");

    await connect(page, shared!.token);

    await page.locator("#stacks-grid").waitFor();
    assert.deepEqual(await texts(page, "#stacks-grid thead th"), ["Stage", ...PROD_REGIONS]);
    const stages = await texts(page, "#stacks-grid tbody th[scope=row] .stage-name");
    assert.deepEqual([...stages].sort(), ["dev", "prod"]);
    for (const [region, stackName] of Object.entries(PROD_STACKS)) {
      const [cell] = await texts(page, `#stacks-grid td[data-stage="prod"][data-region="${region}"]`);
      assert.ok(cell?.includes(stackName), `prod ${region} shows its stack ${stackName}: ${cell}`);
      assert.match(cell, /rollout: /);
      assert.match(cell, /drift: /);
    }
    const [devWest] = await texts(page, '#stacks-grid td[data-stage="dev"][data-region="us-west-2"]');
    assert.match(devWest ?? "", /—/, "dev has no us-west-2 stack");
    assert.equal(await page.evaluate("sessionStorage.getItem('platform-api-token')"), shared!.token);
    assert.deepEqual(pageErrors, []);
  });

  it("shows the token form again with an error message after a wrong token", async () => {
    const page = await openDashboard(shared!);

    await connect(page, "not-the-token");

    const message = page.locator("#token-message");
    await eventually(
      "the error message",
      () => message.textContent(),
      (text) => /not accept/i.test(text ?? ""),
    );
    assert.equal(await page.getByLabel("API token").isVisible(), true);
    assert.equal(await page.locator("#app").isVisible(), false);
    assert.equal(await page.evaluate("sessionStorage.getItem('platform-api-token')"), null);
    // Said once (the form's alert, which also describes the field), not again in the status line.
    assert.doesNotMatch((await page.locator("#status").textContent()) ?? "", /not accept/i);
    assert.match(
      (await page.getByLabel("API token").getAttribute("aria-describedby")) ?? "",
      /token-message/,
    );
    assert.deepEqual(pageErrors, []);
  });

  it("keeps checking the token it was given when Enter is pressed again while connecting", async () => {
    const page = await openDashboard(shared!);
    let delayed = false;
    await page.route("**/stacks", async (route) => {
      if (!delayed) {
        delayed = true;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      await route.continue();
    });
    const input = page.getByLabel("API token");
    await input.fill(shared!.token);
    await input.press("Enter");
    await input.fill("typo-token");
    await input.press("Enter");

    await page.locator('#stacks-grid td[data-stage="prod"][data-region="us-east-1"]').waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('platform-api-token')"), shared!.token);
    assert.deepEqual(pageErrors, []);
  });

  it("forgets the token with Forget token and asks for it again", async () => {
    const page = await connected(shared!);

    await page.getByRole("button", { name: "Forget token" }).click();

    await page.getByLabel("API token").waitFor();
    assert.equal(await page.locator("#app").isVisible(), false);
    assert.equal(await page.evaluate("sessionStorage.getItem('platform-api-token')"), null);
  });

  it("follows a rollout of prod started from the page until every gate of every region succeeded", async () => {
    const page = await connected(await serviceWithUp(250));

    const jobId = await startProdRollout(page);

    assert.equal((await texts(page, "#job-heading"))[0], `Job ${jobId.slice(0, 8)}`);
    const allSucceeded = (states: Record<string, string>) =>
      Object.values(states).every((state) => state === "succeeded");
    await eventually(
      "every gate succeeded",
      () => gateStates(page, PROD_REGIONS, ROLLOUT_GATES),
      allSucceeded,
    );
    await eventually(
      "the job succeeded",
      () => jobState(page),
      (state) => state === "succeeded",
    );
    assert.equal(await page.locator("#cancel-job").isVisible(), false, "no Cancel button once finished");
    for (const region of PROD_REGIONS) {
      const [state] = await texts(page, `#job-regions tr[data-region="${region}"] [data-region-state]`);
      assert.equal(state, "succeeded", `${region} region state`);
    }
    // The grid and the job list refresh when the watched job finishes.
    for (const region of PROD_REGIONS) {
      await eventually(
        `the grid shows prod ${region} rolled out`,
        async () =>
          (await texts(page, `#stacks-grid td[data-stage="prod"][data-region="${region}"]`))[0] ?? "",
        (text) => text.includes("rollout: succeeded"),
      );
    }
    await eventually(
      "the job list shows the rollout succeeded",
      () => texts(page, `#jobs-table tr[data-job="${jobId}"] td`),
      (cells) => cells.includes("rollout") && cells.includes("succeeded"),
    );
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  it("reconnects with Last-Event-ID after the event stream drops and still shows the job finish", async () => {
    const page = await connected(await serviceWithUp(250));
    // Drop the first event stream in the middle of its first region message.
    await page.evaluate(`(() => {
      const original = window.fetch.bind(window);
      window.lastEventIds = [];
      let dropped = false;
      window.fetch = async (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        if (!url.includes("/events")) return original(input, init);
        window.lastEventIds.push(new Headers(init && init.headers).get("Last-Event-ID"));
        const response = await original(input, init);
        if (dropped || !response.body) return response;
        dropped = true;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const encoder = new TextEncoder();
        let text = "";
        let sent = 0;
        const body = new ReadableStream({
          async pull(controller) {
            const { value, done } = await reader.read();
            if (done) return controller.close();
            text += decoder.decode(value, { stream: true });
            const at = text.indexOf("event: region");
            const end = at === -1 ? text.length : at + "event: region\\ndata: {".length;
            controller.enqueue(encoder.encode(text.slice(sent, end)));
            sent = end;
            if (at !== -1) {
              reader.cancel();
              controller.error(new TypeError("connection dropped by the test"));
            }
          },
        });
        return new Response(body, { status: response.status, headers: response.headers });
      };
    })()`);

    await startProdRollout(page);

    await eventually(
      "the job succeeded",
      () => jobState(page),
      (state) => state === "succeeded",
    );
    const states = await gateStates(page, PROD_REGIONS, ROLLOUT_GATES);
    assert.ok(
      Object.values(states).every((state) => state === "succeeded"),
      `every gate succeeded: ${JSON.stringify(states)}`,
    );
    const lastEventIds = await page.evaluate<(string | null)[]>("window.lastEventIds");
    assert.ok(lastEventIds.length >= 2, `a second request: ${JSON.stringify(lastEventIds)}`);
    assert.equal(lastEventIds[0], null, "the first request replays everything");
    assert.match(lastEventIds[1] ?? "", /^[1-9][0-9]*$/, "the reconnection asks for what followed");
    assert.deepEqual(pageErrors, []);
  });

  it("parses event stream messages split across chunks, with multi-line data, CRLF and comments", async () => {
    const page = await connected(shared!);

    const parsed = await page.evaluate<ParsedMessages>(`(async () => {
      const { SseParser } = await import("/dashboard/sse.js");
      const parser = new SseParser();
      const chunks = [
        "retry: 1500\\n\\nid: 1\\nevent: job\\ndata: {\\"a\\":",
        "1}\\n\\n: keep-alive\\n\\nid: 2\\r",
        "\\nevent: region\\r\\ndata: line one\\r\\ndata:line two\\r\\n\\r\\ndata: no id\\n\\n",
        "id: 3\\nevent: wave\\ndata: unfinished",
      ];
      const messages = chunks.flatMap((chunk) => parser.push(chunk));
      const tail = new SseParser("7");
      const ended = [...tail.push("data: last\\r\\n\\r"), ...tail.end()];
      return { messages, retry: parser.retry, ended };
    })()`);

    assert.deepEqual(parsed, {
      retry: 1500,
      messages: [
        { id: "1", event: "job", data: '{"a":1}' },
        { id: "2", event: "region", data: "line one\nline two" },
        { id: "2", event: "message", data: "no id" },
      ],
      ended: [{ id: "7", event: "message", data: "last" }],
    });
  });

  it("shows the service's message and a link to the busy job when the stage is busy", async () => {
    const service = await serviceWithUp(3000);
    const page = await connected(service);
    const busyJobId = await startProdRollout(page);

    await page.locator("#start-rollout").click();

    const message = page.locator("#start-message");
    const link = message.getByRole("link", { name: `Open the busy job ${busyJobId.slice(0, 8)}` });
    await link.waitFor();
    assert.equal(await link.getAttribute("href"), `#jobs/${busyJobId}`);
    assert.match((await message.textContent()) ?? "", /busy/i);

    await service.request(`/jobs/${busyJobId}/cancel`, { method: "POST" });
    await waitForJob(service, busyJobId);
    assert.deepEqual(pageErrors, []);
  });

  it("cancels a running rollout from the page and shows the job cancelled", async () => {
    const service = await serviceWithUp(3000);
    const page = await connected(service);
    const jobId = await startProdRollout(page);
    await eventually(
      "the canary's up gate running",
      () => gateStates(page, ["us-east-1"], ["up"]),
      (states) => states["us-east-1 up"] === "running",
    );

    await page.getByRole("button", { name: "Cancel job" }).click();

    await eventually(
      "the job cancelled",
      () => jobState(page),
      (state) => state === "cancelled",
    );
    assert.equal(await page.locator("#cancel-job").isVisible(), false, "no Cancel button once finished");
    assert.equal(
      await page.evaluate("document.activeElement?.id"),
      "job-heading",
      "the focus stays in the job view when the Cancel button goes",
    );
    const [canary] = await texts(page, '#job-regions tr[data-region="us-east-1"] [data-region-state]');
    assert.equal(canary, "cancelled");
    assert.equal((await waitForJob(service, jobId)).state, "cancelled");
    assert.deepEqual(pageErrors, []);
  });

  it("gives the focus back to the job's row in the list when the job view is closed from the keyboard", async () => {
    const page = await connected(await serviceWithUp(50));
    const jobId = await startProdRollout(page);
    await page.locator(`#jobs-table tr[data-job="${jobId}"] a`).waitFor();

    await page.locator("#close-job").focus();
    await page.keyboard.press("Enter");

    await page.locator("#job-view").waitFor({ state: "hidden" });
    assert.equal(
      await page.evaluate("document.activeElement?.getAttribute('href')"),
      `#jobs/${encodeURIComponent(jobId)}`,
    );
    assert.deepEqual(pageErrors, []);
  });

  for (const hash of ["#jobs/%E0%A4%A", "#jobs/%", `#jobs/${"x".repeat(300)}`]) {
    it(`shows "not found" for a malformed job link (${hash.slice(0, 20)}) without a script error`, async () => {
      const page = await connected(shared!);

      await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);

      await page.locator("#job-view").waitFor();
      await eventually(
        "the job view's message",
        async () => (await texts(page, "#job-stream"))[0] ?? "",
        (text) => /no job|not found|path segment/i.test(text),
      );
      assert.deepEqual(pageErrors, []);
    });
  }
});
