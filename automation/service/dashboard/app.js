// The dashboard's entry point: asks for the API token and signs in, polls the stacks grid and the
// recent jobs, opens the job the URL names, and wires the page's controls. Plain ES modules, no
// build step, no external resources.

import { forgetToken, hasToken, onUnauthorized, reportFailure, saveToken } from "./api.js";
import { $, announce, isBusy, jobHref, setBusy } from "./dom.js";
import { loadStacks } from "./grid.js";
import { cancelJob, closeJob, onJobChange, openJob, tickDuration } from "./job-view.js";
import { loadJobs, onRowClick } from "./jobs.js";
import { renderRegionChoices, startJob } from "./start-job.js";
import { state } from "./state.js";

const POLL_INTERVAL_MS = 4000;

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
  // The message (an alert, read once) also describes the field while it stands.
  input.setAttribute("aria-describedby", message ? "token-message token-help" : "token-help");
  input.focus();
}

/** Forgets the token, stops every call and stream, and asks for the token. */
function signOut(message, isError) {
  forgetToken();
  state.connected = false;
  stopPolling();
  closeJob();
  state.stacksKey = "";
  state.jobsKey = "";
  announce(""); // the token form's alert says it: once is enough
  showTokenForm(message, isError);
}

/** Checks the token with GET /stacks, then shows the dashboard. */
async function connect() {
  const button = $("#token-connect");
  if (isBusy(button)) return;
  setBusy([button], true);
  try {
    const stacksLoaded = await loadStacks();
    if (!stacksLoaded) {
      if (!state.connected) showTokenForm($("#status").textContent ?? "Could not load the stacks.", true);
      return;
    }
    state.connected = true;
    const fromTokenForm = $("#token-section").contains(document.activeElement);
    $("#token-section").hidden = true;
    $("#app").hidden = false;
    $("#forget-token").hidden = false;
    announce("Connected.");
    if (fromTokenForm) $("#stacks-heading").focus();
    await loadJobs();
    startPolling();
    routeFromLocation();
  } catch (error) {
    reportFailure("connect to the service", error);
    if (!state.connected && hasToken()) {
      showTokenForm(`Could not reach the service: ${error instanceof Error ? error.message : error}`, true);
    }
  } finally {
    setBusy([button], false);
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

// --- Routing ------------------------------------------------------------------------------------

/** Opens the job the URL names (`#jobs/<id>`), or closes the open one when it names none. */
function routeFromLocation() {
  const match = /^#jobs\/(.+)$/.exec(location.hash);
  if (!state.connected) return;
  if (match) {
    let id;
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      // A malformed link (`#jobs/%E0%A4%A`) names no job: ask for it as written, which the
      // service answers with "not found", instead of failing on the decoding.
      id = match[1];
    }
    if (state.view?.id !== id) openJob(id);
  } else if (state.view) {
    closeJob();
  }
}

/** Opens a job of the recent jobs list, its URL pushed first. */
function showJob(id) {
  history.pushState(null, "", jobHref(id));
  routeFromLocation();
}

/** Shows a job the form started and refreshes the lists that now include it. */
function showStartedJob(job) {
  history.pushState(null, "", jobHref(job.id));
  openJob(job.id, job);
  refreshLists();
}

// --- Start --------------------------------------------------------------------------------------

function main() {
  onUnauthorized((message) => signOut(message, true));
  onJobChange(() => refreshLists());
  onRowClick(showJob);
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    // Enter submits the form even while Connect is busy: keep the token being checked.
    if (isBusy($("#token-connect"))) return;
    const input = /** @type {HTMLInputElement} */ ($("#token-input"));
    const token = input.value.trim();
    if (!token) {
      showTokenForm("Enter the API token.", true);
      return;
    }
    saveToken(token);
    $("#token-message").textContent = "";
    announce("Connecting…");
    connect();
  });
  $("#forget-token").addEventListener("click", () => {
    signOut("Token forgotten. Enter the API token to connect again.", false);
  });
  $("#start-stage").addEventListener("change", () => renderRegionChoices(true));
  for (const button of document.querySelectorAll("#start-form button[data-kind]")) {
    button.addEventListener("click", () =>
      startJob(/** @type {HTMLElement} */ (button).dataset.kind, showStartedJob),
    );
  }
  $("#refresh").addEventListener("click", () => refreshLists());
  $("#cancel-job").addEventListener("click", () => cancelJob());
  $("#close-job").addEventListener("click", () => {
    const id = state.view?.id;
    history.pushState(null, "", location.pathname + location.search);
    closeJob();
    // The focus goes back to where the job was opened from: its row, else the list's heading.
    const row = id
      ? [...document.querySelectorAll("#jobs-table a")].find(
          (link) => link.getAttribute("href") === jobHref(id),
        )
      : undefined;
    /** @type {HTMLElement} */ (row ?? $("#jobs-heading")).focus();
  });
  window.addEventListener("hashchange", routeFromLocation);
  window.addEventListener("popstate", routeFromLocation);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshLists();
  });
  setInterval(tickDuration, 1000);

  if (hasToken()) {
    announce("Connecting…");
    connect();
  } else {
    showTokenForm("", false);
  }
}

if (typeof document !== "undefined" && document.getElementById("app")) main();
