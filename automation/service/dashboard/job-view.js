// The job view: a job's summary, waves and region table, kept current from its event stream
// (read with fetch() and reconnecting with Last-Event-ID), and its Cancel button.

import { api, authHeaders, messageOf, reportFailure, UnauthorizedError, unauthorized } from "./api.js";
import {
  $,
  announce,
  formatDuration,
  h,
  isBusy,
  jobDuration,
  setBusy,
  shortId,
  stateBadge,
  timeElement,
} from "./dom.js";
import { markCurrentJobRow } from "./jobs.js";
import { SseParser } from "./sse.js";
import { ACTIVE_STATES, FINISHED_STATES, state } from "./state.js";

const MAX_RECONNECT_DELAY_MS = 15000;
/** The gate columns of a job's region table, by job kind. */
const GATES_BY_KIND = {
  preview: ["preview"],
  rollout: ["preview", "up", "health"],
  drift: ["drift", "remediate"],
};

/**
 * What a change of the open job's state does (set by app.js: reload the grid and the jobs list).
 * @type {() => void}
 */
let jobChanged = () => {};

/** @param {() => void} handler called when the open job's state changed or its cancel was requested */
export function onJobChange(handler) {
  jobChanged = handler;
}

/** Shows a job (fetched unless given) and follows its events until it finishes. */
export async function openJob(id, known) {
  closeJob();
  const view = {
    id,
    job: undefined,
    controller: new AbortController(),
    waves: new Map(),
    engineEvents: 0,
    note: "",
    /** A cancel request is on its way (the job does not say so yet). */
    cancelling: false,
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

export function closeJob() {
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
  const cancelHadFocus = document.activeElement === cancel;
  cancel.hidden = !ACTIVE_STATES.has(job.state);
  // A hidden button drops the focus to the page's start: keep it in the job view instead.
  if (cancelHadFocus && cancel.hidden) $("#job-heading").focus();
  const cancelling = Boolean(job.cancelRequested || view.cancelling);
  setBusy([cancel], cancelling);
  cancel.textContent = cancelling ? "Cancelling…" : "Cancel job";
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
        unauthorized("The service did not accept the API token (401). Enter it again.");
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
      if (changed) jobChanged();
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
        jobChanged();
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

export async function cancelJob() {
  const view = state.view;
  if (!view) return;
  const button = $("#cancel-job");
  if (isBusy(button)) return;
  view.cancelling = true;
  setBusy([button], true);
  const failed = () => {
    view.cancelling = false;
    if (state.view === view) setBusy([button], false);
  };
  try {
    const { status, data } = await api(`/jobs/${encodeURIComponent(view.id)}/cancel`, { method: "POST" });
    if (status === 202) {
      announce(`Cancel requested for job ${shortId(view.id)}.`);
      // The stream may already have brought the job's end: this answer is older than that.
      if (state.view === view && view.job && !FINISHED_STATES.has(view.job.state)) {
        view.job = { ...view.job, ...data };
        renderJob(view);
      }
      jobChanged();
    } else {
      announce(`Could not cancel job ${shortId(view.id)}: ${messageOf(data, `HTTP ${status}`)}`);
      failed();
    }
  } catch (error) {
    reportFailure(`cancel job ${shortId(view.id)}`, error);
    failed();
  }
}

/** Keeps a running job's duration current between events. */
export function tickDuration() {
  const job = state.view?.job;
  const duration = document.getElementById("job-duration");
  if (job && duration && job.state === "running") duration.textContent = formatDuration(jobDuration(job));
}
