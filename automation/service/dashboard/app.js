// The service's dashboard: the stack grid, a form to start jobs, the recent jobs and a live job
// view. Plain ES module, no build step, no external resources. Every JSON call carries the bearer
// token kept in sessionStorage; the job event stream is read with fetch() (EventSource cannot send
// an Authorization header) and a small Server-Sent Events parser.

const TOKEN_KEY = "platform-api-token";
const POLL_INTERVAL_MS = 4000;
const MAX_RECONNECT_DELAY_MS = 15000;
const RECENT_JOBS = 20;
const FINISHED_STATES = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
const ACTIVE_STATES = new Set(["queued", "running"]);
/** The gate columns of a job's region table, by job kind. */
const GATES_BY_KIND = {
  preview: ["preview"],
  rollout: ["preview", "up", "health"],
  drift: ["drift", "remediate"],
};
const SUBMIT_PATHS = { preview: "/previews", rollout: "/rollouts", drift: "/drift" };
const KIND_NAMES = { preview: "preview", rollout: "rollout", drift: "drift check" };

/**
 * Incremental Server-Sent Events parser (the WHATWG algorithm): feed it decoded text in chunks of
 * any size; it returns the messages completed so far. A message is `{ id, event, data }`, where
 * `id` is the last event id seen (ids persist across messages) and `event` defaults to "message".
 */
export class SseParser {
  /** @param {string | undefined} lastEventId the id to start from (after a reconnection) */
  constructor(lastEventId) {
    this.lastEventId = lastEventId;
    /** The last `retry:` value, in milliseconds. @type {number | undefined} */
    this.retry = undefined;
    this.buffer = "";
    this.eventType = "";
    /** @type {string[]} */
    this.dataLines = [];
  }

  /**
   * @param {string} chunk
   * @returns {{ id: string | undefined, event: string, data: string }[]}
   */
  push(chunk) {
    const text = this.buffer + chunk;
    const messages = [];
    const lineEnd = /\r\n|\r|\n/g;
    let position = 0;
    for (let match = lineEnd.exec(text); match; match = lineEnd.exec(text)) {
      // A lone "\r" at the end may be the first half of a "\r\n" split across chunks.
      if (match[0] === "\r" && match.index === text.length - 1) break;
      this.line(text.slice(position, match.index), messages);
      position = lineEnd.lastIndex;
    }
    this.buffer = text.slice(position);
    return messages;
  }

  /** Call at the end of the stream: a last lone "\r" ends its line after all. */
  end() {
    return this.buffer.endsWith("\r") ? this.push("\n") : [];
  }

  /** @param {string} line @param {{ id: string | undefined, event: string, data: string }[]} messages */
  line(line, messages) {
    if (line === "") {
      if (this.dataLines.length > 0) {
        messages.push({
          id: this.lastEventId,
          event: this.eventType || "message",
          data: this.dataLines.join("\n"),
        });
      }
      this.dataLines = [];
      this.eventType = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventType = value;
    else if (field === "data") this.dataLines.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

class UnauthorizedError extends Error {}

/** What the page shows and follows. */
const state = {
  connected: false,
  /** @type {ReturnType<typeof setInterval> | undefined} */
  pollTimer: undefined,
  refreshing: false,
  refreshAgain: false,
  /** @type {any} */
  stacks: undefined,
  stacksKey: "",
  jobsKey: "",
  /**
   * The open job: its id, document, waves, engine event count and the controller that aborts
   * its event stream.
   * @type {{ id: string, job: any, controller: AbortController, waves: Map<number, string[]>, engineEvents: number, note: string } | undefined}
   */
  view: undefined,
};

const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/**
 * Creates an element with attributes (`className` sets the class; false, null and undefined are
 * left out) and children (strings become text).
 */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") element.className = String(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) element.append(child);
  }
  return element;
}

const shortId = (id) => String(id).slice(0, 8);
const jobHref = (id) => `#jobs/${encodeURIComponent(id)}`;

/** The state as text, with a class for its colour (colour is never the only cue). */
function stateBadge(value) {
  return h("span", { className: `state state-${value}` }, value);
}

function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function timeElement(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, formatTime(iso)) : "—";
}

function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return `${minutes} min ${seconds} s`;
}

/** A running job's duration so far; a finished one's from start to finish. */
function jobDuration(job) {
  if (job.startedAt && !job.finishedAt && job.state === "running") {
    return Date.now() - Date.parse(job.startedAt);
  }
  return job.durationMs;
}

function messageOf(body, fallback) {
  return body && typeof body.message === "string" && body.message ? body.message : fallback;
}

/** Says something in the polite live region. */
function announce(message) {
  $("#status").textContent = message;
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Calls a JSON endpoint. A 401 forgets the token and asks for it again (and throws
 * UnauthorizedError); other statuses are returned for the caller to read.
 */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = { message: text };
  }
  if (response.status === 401) {
    signOut(
      `The service did not accept the API token: ${messageOf(data, "401 Unauthorized")}. Enter it again.`,
      true,
    );
    throw new UnauthorizedError("unauthorized");
  }
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

/** Reports a failed call unless it was a 401 (already handled by asking for the token). */
function reportFailure(what, error) {
  if (error instanceof UnauthorizedError) return;
  if (error instanceof DOMException && error.name === "AbortError") return;
  announce(`Could not ${what}: ${error instanceof Error ? error.message : String(error)}`);
}

// --- Token --------------------------------------------------------------------------------------

function showTokenForm(message, isError) {
  $("#app").hidden = true;
  $("#forget-token").hidden = true;
  $("#token-section").hidden = false;
  const note = $("#token-message");
  note.textContent = message ?? "";
  note.classList.toggle("error", Boolean(isError));
  const input = /** @type {HTMLInputElement} */ ($("#token-input"));
  input.value = "";
  input.setAttribute("aria-invalid", isError ? "true" : "false");
  input.focus();
}

/** Forgets the token, stops every call and stream, and asks for the token. */
function signOut(message, isError) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.connected = false;
  stopPolling();
  closeJob();
  state.stacksKey = "";
  state.jobsKey = "";
  announce(message);
  showTokenForm(message, isError);
}

/** Checks the token with GET /stacks, then shows the dashboard. */
async function connect() {
  const button = /** @type {HTMLButtonElement} */ ($("#token-connect"));
  button.disabled = true;
  try {
    const stacksLoaded = await loadStacks();
    if (!stacksLoaded) {
      if (!state.connected) showTokenForm($("#status").textContent ?? "Could not load the stacks.", true);
      return;
    }
    state.connected = true;
    $("#token-section").hidden = true;
    $("#app").hidden = false;
    $("#forget-token").hidden = false;
    announce("Connected.");
    await loadJobs();
    startPolling();
    routeFromLocation();
  } catch (error) {
    reportFailure("connect to the service", error);
    if (!state.connected && sessionStorage.getItem(TOKEN_KEY)) {
      showTokenForm(`Could not reach the service: ${error instanceof Error ? error.message : error}`, true);
    }
  } finally {
    button.disabled = false;
  }
}

// --- Polling ------------------------------------------------------------------------------------

function startPolling() {
  stopPolling();
  state.pollTimer = setInterval(() => {
    if (!document.hidden) refreshLists();
  }, POLL_INTERVAL_MS);
}

function stopPolling() {
  if (state.pollTimer !== undefined) clearInterval(state.pollTimer);
  state.pollTimer = undefined;
}

/**
 * Reloads the grid and the recent jobs, one refresh at a time: one asked for during a refresh
 * runs after it (its answers may predate what prompted it, such as a job's end).
 */
async function refreshLists() {
  if (!state.connected) return;
  if (state.refreshing) {
    state.refreshAgain = true;
    return;
  }
  state.refreshing = true;
  try {
    do {
      state.refreshAgain = false;
      await Promise.all([loadStacks(), loadJobs()]);
    } while (state.refreshAgain && state.connected);
  } catch (error) {
    reportFailure("refresh", error);
  } finally {
    state.refreshing = false;
  }
}

// --- Stacks grid --------------------------------------------------------------------------------

/** @returns {Promise<boolean>} whether the stacks loaded */
async function loadStacks() {
  const { ok, status, data } = await api("/stacks");
  if (!ok) {
    announce(`Could not load the stacks: ${messageOf(data, `HTTP ${status}`)}`);
    return false;
  }
  state.stacks = data;
  const key = JSON.stringify(data);
  if (key !== state.stacksKey) {
    state.stacksKey = key;
    preservingFocus($("#stacks-grid"), () => renderGrid(data));
    renderStageOptions(data.stages);
  }
  $("#stacks-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  return true;
}

function renderGrid({ stages, regions }) {
  const table = $("#stacks-grid");
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "Stage"),
    regions.map((region) => h("th", { scope: "col" }, region)),
  );
  table.querySelector("thead")?.replaceChildren(head);
  const rows = stages.map((stage) => {
    const heading = h(
      "th",
      { scope: "row" },
      h("span", { className: "stage-name" }, stage.stage),
      stage.app ? h("span", { className: "help block" }, `app ${stage.app}`) : undefined,
    );
    if (stage.error) {
      return h(
        "tr",
        {},
        heading,
        h(
          "td",
          { colspan: Math.max(regions.length, 1), className: "error-cell", "data-stage": stage.stage },
          `Settings could not be read: ${stage.error}`,
        ),
      );
    }
    const byRegion = new Map(stage.regions.map((status) => [status.region, status]));
    return h(
      "tr",
      {},
      heading,
      regions.map((region) => stackCell(stage.stage, region, byRegion.get(region))),
    );
  });
  table.querySelector("tbody")?.replaceChildren(...rows);
}

function stackCell(stage, region, status) {
  const attributes = { "data-stage": stage, "data-region": region };
  if (!status) {
    return h(
      "td",
      { ...attributes, className: "empty" },
      h("span", { "aria-hidden": "true" }, "—"),
      h("span", { className: "visually-hidden" }, "no stack"),
    );
  }
  const lines = [];
  lines.push(
    h(
      "li",
      {},
      "rollout: ",
      status.rollout
        ? h("a", { href: jobHref(status.rollout.jobId) }, stateBadge(status.rollout.state))
        : "—",
    ),
  );
  lines.push(
    h(
      "li",
      {},
      "drift: ",
      status.drift ? h("a", { href: jobHref(status.drift.jobId) }, driftBadge(status.drift)) : "—",
    ),
  );
  if (status.lastJob && ACTIVE_STATES.has(status.lastJob.state)) {
    lines.push(
      h(
        "li",
        {},
        "now: ",
        h(
          "a",
          { href: jobHref(status.lastJob.id) },
          `${KIND_NAMES[status.lastJob.kind] ?? status.lastJob.kind} `,
          stateBadge(status.lastJob.state),
        ),
      ),
    );
  }
  return h(
    "td",
    attributes,
    h(
      "div",
      { className: "stack-name" },
      h("code", {}, status.stackName),
      status.primary ? h("span", { className: "tag" }, "primary") : undefined,
    ),
    h("ul", { className: "cell-lines" }, lines),
  );
}

function driftBadge(drift) {
  if (drift.state === "drifted" && typeof drift.driftedCount === "number") {
    return h("span", { className: "state state-drifted" }, `${drift.driftedCount} drifted`);
  }
  if (drift.state === "remediated" && typeof drift.driftedCount === "number") {
    return h("span", { className: "state state-remediated" }, `remediated (${drift.driftedCount})`);
  }
  return stateBadge(drift.state);
}

// --- Start a job --------------------------------------------------------------------------------

function renderStageOptions(stages) {
  const select = /** @type {HTMLSelectElement} */ ($("#start-stage"));
  const key = JSON.stringify(stages.map((stage) => [stage.stage, Boolean(stage.error)]));
  if (select.dataset.key !== key) {
    const previous = select.value;
    select.replaceChildren(
      ...stages.map((stage) =>
        h(
          "option",
          { value: stage.stage, disabled: Boolean(stage.error) },
          stage.error ? `${stage.stage} (settings unreadable)` : stage.stage,
        ),
      ),
    );
    select.dataset.key = key;
    const usable = stages.filter((stage) => !stage.error).map((stage) => stage.stage);
    select.value = usable.includes(previous) ? previous : (usable[0] ?? "");
  }
  renderRegionChoices(false);
}

/** The region checkboxes of the chosen stage (kept as they are while the stage's regions are). */
function renderRegionChoices(force) {
  const select = /** @type {HTMLSelectElement} */ ($("#start-stage"));
  const stage = state.stacks?.stages.find((candidate) => candidate.stage === select.value);
  const regions = stage && !stage.error ? stage.regions.map((status) => status.region) : [];
  const list = $("#start-region-list");
  const key = JSON.stringify([select.value, regions]);
  if (!force && list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(
    ...regions.map((region) =>
      h(
        "div",
        { className: "checkbox" },
        h("input", { type: "checkbox", id: `start-region-${region}`, name: "regions", value: region }),
        h("label", { for: `start-region-${region}` }, region),
      ),
    ),
  );
  if (regions.length === 0) list.append(h("p", { className: "help" }, "No regions."));
}

/** Fills (or, without content, empties) the form's live message. */
function setStartMessage(...content) {
  $("#start-message").replaceChildren(...content);
}

async function startJob(kind) {
  const form = /** @type {HTMLFormElement} */ ($("#start-form"));
  const stage = /** @type {HTMLSelectElement} */ ($("#start-stage")).value;
  if (!stage) {
    setStartMessage("Choose a stage first.");
    return;
  }
  const regions = [...form.querySelectorAll('input[name="regions"]:checked')].map(
    (input) => /** @type {HTMLInputElement} */ (input).value,
  );
  const body = { stage };
  if (regions.length > 0) body.regions = regions;
  if (/** @type {HTMLInputElement} */ ($("#start-queue")).checked) body.queue = true;
  if (kind === "rollout" && /** @type {HTMLInputElement} */ ($("#start-dry-run")).checked) body.dryRun = true;
  const remediate = /** @type {HTMLSelectElement} */ ($("#start-remediate")).value;
  if (kind === "drift" && remediate) body.remediate = remediate;

  const buttons = [...form.querySelectorAll("button[data-kind]")];
  for (const button of buttons) /** @type {HTMLButtonElement} */ (button).disabled = true;
  setStartMessage();
  try {
    const { status, data } = await api(SUBMIT_PATHS[kind], { method: "POST", body });
    if (status === 202) {
      announce(`Started ${KIND_NAMES[kind]} ${shortId(data.id)} of ${data.stage} (${data.state}).`);
      history.pushState(null, "", jobHref(data.id));
      openJob(data.id, data);
      refreshLists();
    } else if (status === 409 && data?.jobId) {
      setStartMessage(
        h("strong", {}, "Busy: "),
        messageOf(data, "A stack of the job is busy."),
        " ",
        h("a", { href: jobHref(data.jobId) }, `Open the busy job ${shortId(data.jobId)}`),
        data.stackName ? ` (stack ${data.stackName}).` : ".",
      );
    } else {
      setStartMessage(
        h("strong", {}, `Not started (${status}): `),
        messageOf(data, `the service answered ${status}.`),
      );
    }
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) {
      setStartMessage(
        `Could not start the ${KIND_NAMES[kind]}: ${error instanceof Error ? error.message : error}`,
      );
    }
  } finally {
    for (const button of buttons) /** @type {HTMLButtonElement} */ (button).disabled = false;
  }
}

// --- Recent jobs --------------------------------------------------------------------------------

async function loadJobs() {
  const { ok, status, data } = await api(`/jobs?limit=${RECENT_JOBS}`);
  if (!ok) {
    announce(`Could not load the jobs: ${messageOf(data, `HTTP ${status}`)}`);
    return;
  }
  const key = JSON.stringify(data.jobs);
  if (key === state.jobsKey) return;
  state.jobsKey = key;
  preservingFocus($("#jobs-table"), () => renderJobs(data.jobs));
}

function renderJobs(jobs) {
  const rows = jobs.map((job) => {
    const row = h(
      "tr",
      {
        "data-job": job.id,
        className: "clickable",
        "aria-current": state.view?.id === job.id ? "true" : undefined,
      },
      h(
        "th",
        { scope: "row" },
        h("a", { href: jobHref(job.id), title: job.id }, h("code", {}, shortId(job.id))),
      ),
      h("td", {}, job.kind),
      h("td", {}, job.stage),
      h("td", {}, stateBadge(job.state)),
      h("td", {}, timeElement(job.createdAt)),
      h("td", { className: "number" }, formatDuration(job.durationMs)),
    );
    row.addEventListener("click", (event) => {
      if (event.target instanceof Element && event.target.closest("a")) return;
      history.pushState(null, "", jobHref(job.id));
      routeFromLocation();
    });
    return row;
  });
  $("#jobs-table")
    .querySelector("tbody")
    ?.replaceChildren(...rows);
  $("#jobs-empty").hidden = jobs.length > 0;
}

function markCurrentJobRow() {
  for (const row of document.querySelectorAll("#jobs-table tbody tr")) {
    if (row instanceof HTMLElement && row.dataset.job === state.view?.id)
      row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}

/** Re-renders a table and gives the focus back to the same link if it had it. */
function preservingFocus(container, render) {
  const active = document.activeElement;
  const href =
    active instanceof HTMLAnchorElement && container.contains(active) ? active.getAttribute("href") : null;
  render();
  if (href) {
    const again = [...container.querySelectorAll("a")].find((link) => link.getAttribute("href") === href);
    again?.focus();
  }
}

// --- Job view -----------------------------------------------------------------------------------

function routeFromLocation() {
  const match = /^#jobs\/(.+)$/.exec(location.hash);
  if (!state.connected) return;
  if (match) {
    const id = decodeURIComponent(match[1]);
    if (state.view?.id !== id) openJob(id);
  } else if (state.view) {
    closeJob();
  }
}

/** Shows a job (fetched unless given) and follows its events until it finishes. */
async function openJob(id, known) {
  closeJob();
  const view = {
    id,
    job: undefined,
    controller: new AbortController(),
    waves: new Map(),
    engineEvents: 0,
    note: "",
  };
  state.view = view;
  const section = $("#job-view");
  section.hidden = false;
  $("#job-heading").textContent = `Job ${shortId(id)}`;
  $("#job-summary").replaceChildren(h("div", {}, h("dt", {}, "State"), h("dd", {}, "loading…")));
  $("#job-error").hidden = true;
  $("#job-waves").hidden = true;
  $("#job-regions").querySelector("thead")?.replaceChildren();
  $("#job-regions").querySelector("tbody")?.replaceChildren();
  $("#cancel-job").hidden = true;
  setStreamNote(view, "");
  markCurrentJobRow();
  $("#job-heading").focus();
  try {
    if (known) {
      view.job = known;
    } else {
      const { status, data } = await api(`/jobs/${encodeURIComponent(id)}`);
      if (state.view !== view) return;
      if (status !== 200) {
        $("#job-summary").replaceChildren();
        setStreamNote(view, messageOf(data, `Could not load the job (HTTP ${status}).`));
        return;
      }
      view.job = data;
    }
    renderJob(view);
    if (FINISHED_STATES.has(view.job.state)) setStreamNote(view, `Finished: ${view.job.state}.`);
    else followJob(view);
  } catch (error) {
    reportFailure(`load job ${shortId(id)}`, error);
  }
}

function closeJob() {
  const view = state.view;
  if (!view) return;
  view.controller.abort();
  state.view = undefined;
  $("#job-view").hidden = true;
  markCurrentJobRow();
}

function setStreamNote(view, note) {
  view.note = note;
  renderStreamNote(view);
}

function renderStreamNote(view) {
  if (state.view !== view) return;
  const engine = view.engineEvents > 0 ? ` ${view.engineEvents} engine events.` : "";
  $("#job-stream").textContent = `${view.note}${engine}`;
}

function renderJob(view) {
  if (state.view !== view || !view.job) return;
  const job = view.job;
  $("#job-heading").textContent = `Job ${shortId(job.id)}`;
  const options = Object.entries(job.options ?? {})
    .map(([name, value]) => `${name}: ${value}`)
    .join(", ");
  const item = (term, ...description) => h("div", {}, h("dt", {}, term), h("dd", {}, ...description));
  const items = [
    item("Id", h("code", {}, job.id)),
    item("Kind", job.kind),
    item("Stage", job.stage),
    item(
      "State",
      h("span", { id: "job-state" }, stateBadge(job.state)),
      job.cancelRequested && !FINISHED_STATES.has(job.state) ? " (cancel requested)" : undefined,
    ),
    item("Trigger", job.trigger),
    item("Engine", job.engine ?? "—"),
    item("Revision", job.revision ? h("code", { title: job.revision }, job.revision.slice(0, 12)) : "—"),
    options ? item("Options", options) : undefined,
    item("Created", timeElement(job.createdAt)),
    item("Started", timeElement(job.startedAt)),
    item("Finished", timeElement(job.finishedAt)),
    item("Duration", h("span", { id: "job-duration" }, formatDuration(jobDuration(job)))),
  ];
  $("#job-summary").replaceChildren(...items.filter((entry) => entry !== undefined));
  const error = $("#job-error");
  error.hidden = !job.error;
  error.replaceChildren(...(job.error ? [h("strong", {}, "Error: "), job.error] : []));
  const cancel = /** @type {HTMLButtonElement} */ ($("#cancel-job"));
  cancel.hidden = !ACTIVE_STATES.has(job.state);
  cancel.disabled = Boolean(job.cancelRequested);
  cancel.textContent = job.cancelRequested ? "Cancelling…" : "Cancel job";
  renderWaves(view);
  renderRegions(view);
}

/** The gate columns: the kind's gates, plus any other gate a region reports. */
function gateColumns(job) {
  const gates = [...(GATES_BY_KIND[job.kind] ?? [])];
  for (const region of job.regions ?? []) {
    for (const result of region.gates ?? []) if (!gates.includes(result.gate)) gates.push(result.gate);
    if (region.gate && !gates.includes(region.gate)) gates.push(region.gate);
  }
  return gates;
}

function renderRegions(view) {
  if (state.view !== view || !view.job) return;
  const job = view.job;
  const gates = gateColumns(job);
  const table = $("#job-regions");
  table.querySelector("thead")?.replaceChildren(
    h(
      "tr",
      {},
      h("th", { scope: "col" }, "Region"),
      h("th", { scope: "col" }, "Stack"),
      h("th", { scope: "col" }, "State"),
      gates.map((gate) => h("th", { scope: "col", className: "gate" }, gate)),
      h("th", { scope: "col", className: "number" }, "Elapsed"),
      h("th", { scope: "col" }, "Details"),
    ),
  );
  table
    .querySelector("tbody")
    ?.replaceChildren(...(job.regions ?? []).map((region) => regionRow(region, gates)));
}

function regionRow(region, gates) {
  const details = [];
  if (typeof region.driftedCount === "number") details.push(`${region.driftedCount} drifted resource(s). `);
  if (region.message) details.push(region.message);
  return h(
    "tr",
    { "data-region": region.region },
    h(
      "th",
      { scope: "row" },
      region.region,
      region.primary ? h("span", { className: "tag" }, "primary") : undefined,
    ),
    h("td", {}, h("code", {}, region.stackName)),
    h("td", { "data-region-state": region.state }, stateBadge(region.state)),
    gates.map((gate) => gateCell(region, gate)),
    h("td", { className: "number" }, formatDuration(region.elapsedMs)),
    h("td", { className: "details" }, details.length ? details : "—"),
  );
}

/** `running` while it is the running region's gate, else the gate result's state, else "—". */
function gateCell(region, gate) {
  const result = (region.gates ?? []).find((candidate) => candidate.gate === gate);
  const value = region.state === "running" && region.gate === gate ? "running" : result?.state;
  if (!value) return h("td", { "data-gate": gate, className: "gate" }, "—");
  const title = result
    ? `${gate}: ${result.state} in ${formatDuration(result.elapsedMs)}${result.message ? ` (${result.message})` : ""}`
    : `${gate}: running`;
  return h("td", { "data-gate": gate, className: "gate", title }, stateBadge(value));
}

function renderWaves(view) {
  if (state.view !== view) return;
  let waves = [...view.waves.entries()].sort(([a], [b]) => a - b);
  // A finished rollout's report lists its waves (the stream is not followed then).
  const reported = view.job?.result?.waves;
  if (waves.length === 0 && Array.isArray(reported)) {
    waves = reported.map((wave) => [wave.index, wave.regions ?? []]);
  }
  const line = $("#job-waves");
  line.hidden = waves.length === 0;
  line.textContent = waves.map(([index, regions]) => `Wave ${index}: ${regions.join(", ")}`).join(" · ");
}

/**
 * Reads the job's event stream and applies each event, reconnecting with Last-Event-ID after a
 * dropped connection, until the job's terminal `job` event (or the view is closed).
 */
async function followJob(view) {
  const { signal } = view.controller;
  let lastEventId;
  let retryMs = 1000;
  let failures = 0;
  while (!signal.aborted) {
    setStreamNote(view, failures === 0 ? "Following live events." : "Reconnecting…");
    let finished = false;
    try {
      const headers = { Accept: "text/event-stream", ...authHeaders() };
      if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(`/jobs/${encodeURIComponent(view.id)}/events`, {
        headers,
        signal,
        cache: "no-store",
      });
      if (response.status === 401) {
        signOut("The service did not accept the API token (401). Enter it again.", true);
        return;
      }
      if (response.status === 204) {
        // Finished, and nothing after the last event seen: make sure the view shows the end.
        await reloadJob(view);
        return;
      }
      if (response.status === 404) {
        setStreamNote(view, "The job no longer exists.");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const parser = new SseParser(lastEventId);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      while (!finished) {
        const { value, done } = await reader.read();
        for (const message of done ? parser.end() : parser.push(value)) {
          if (message.id !== undefined) lastEventId = message.id;
          failures = 0;
          if (applyEvent(view, message)) finished = true;
        }
        if (parser.retry !== undefined) retryMs = parser.retry;
        if (done) break;
      }
      if (finished) {
        reader.cancel().catch(() => {});
        setStreamNote(view, `Finished: ${view.job?.state}.`);
        return;
      }
    } catch (error) {
      if (signal.aborted || error instanceof UnauthorizedError) return;
    }
    failures += 1;
    const delay = Math.min(retryMs * 2 ** (failures - 1), MAX_RECONNECT_DELAY_MS);
    setStreamNote(view, `Connection lost; reconnecting in ${Math.ceil(delay / 1000)} s.`);
    await sleep(delay, signal);
  }
}

async function reloadJob(view) {
  try {
    const { status, data } = await api(`/jobs/${encodeURIComponent(view.id)}`);
    if (status === 200 && state.view === view) {
      const changed = view.job?.state !== data.state;
      view.job = data;
      renderJob(view);
      if (changed) refreshLists();
    }
    setStreamNote(view, `Finished: ${view.job?.state}.`);
  } catch (error) {
    reportFailure(`reload job ${shortId(view.id)}`, error);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
      { once: true },
    );
  });
}

/** Applies one event to the view; true when it is the job's terminal `job` event. */
function applyEvent(view, message) {
  if (state.view !== view) return false;
  let data;
  try {
    data = JSON.parse(message.data);
  } catch {
    return false;
  }
  switch (message.event) {
    case "job": {
      const previous = view.job?.state;
      view.job = { ...data, result: view.job?.result };
      renderJob(view);
      if (previous !== data.state) {
        if (FINISHED_STATES.has(data.state)) announce(`Job ${shortId(data.id)} ${data.state}.`);
        refreshLists();
      }
      return FINISHED_STATES.has(data.state);
    }
    case "region": {
      if (!view.job) return false;
      const regions = [...(view.job.regions ?? [])];
      const index = regions.findIndex((region) => region.region === data.region);
      if (index === -1) regions.push(data);
      else regions[index] = data;
      view.job = { ...view.job, regions };
      renderRegions(view);
      return false;
    }
    case "wave":
      view.waves.set(data.wave, data.regions ?? []);
      renderWaves(view);
      return false;
    case "engine":
      view.engineEvents += 1;
      renderStreamNote(view);
      return false;
    default:
      return false;
  }
}

async function cancelJob() {
  const view = state.view;
  if (!view) return;
  const button = /** @type {HTMLButtonElement} */ ($("#cancel-job"));
  button.disabled = true;
  try {
    const { status, data } = await api(`/jobs/${encodeURIComponent(view.id)}/cancel`, { method: "POST" });
    if (status === 202) {
      announce(`Cancel requested for job ${shortId(view.id)}.`);
      // The stream may already have brought the job's end: this answer is older than that.
      if (state.view === view && view.job && !FINISHED_STATES.has(view.job.state)) {
        view.job = { ...view.job, ...data };
        renderJob(view);
      }
      refreshLists();
    } else {
      announce(`Could not cancel job ${shortId(view.id)}: ${messageOf(data, `HTTP ${status}`)}`);
      button.disabled = false;
    }
  } catch (error) {
    reportFailure(`cancel job ${shortId(view.id)}`, error);
    button.disabled = false;
  }
}

/** Keeps a running job's duration current between events. */
function tickDuration() {
  const job = state.view?.job;
  const duration = document.getElementById("job-duration");
  if (job && duration && job.state === "running") duration.textContent = formatDuration(jobDuration(job));
}

// --- Start --------------------------------------------------------------------------------------

function main() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("#token-input"));
    const token = input.value.trim();
    if (!token) {
      showTokenForm("Enter the API token.", true);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token-message").textContent = "";
    announce("Connecting…");
    connect();
  });
  $("#forget-token").addEventListener("click", () => {
    signOut("Token forgotten. Enter the API token to connect again.", false);
  });
  $("#start-stage").addEventListener("change", () => renderRegionChoices(true));
  for (const button of document.querySelectorAll("#start-form button[data-kind]")) {
    button.addEventListener("click", () => startJob(/** @type {HTMLElement} */ (button).dataset.kind));
  }
  $("#refresh").addEventListener("click", () => refreshLists());
  $("#cancel-job").addEventListener("click", () => cancelJob());
  $("#close-job").addEventListener("click", () => {
    history.pushState(null, "", location.pathname + location.search);
    closeJob();
  });
  window.addEventListener("hashchange", routeFromLocation);
  window.addEventListener("popstate", routeFromLocation);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshLists();
  });
  setInterval(tickDuration, 1000);

  if (sessionStorage.getItem(TOKEN_KEY)) {
    announce("Connecting…");
    connect();
  } else {
    showTokenForm("", false);
  }
}

if (typeof document !== "undefined" && document.getElementById("app")) main();
