// The recent jobs list: a row per job, the open job's row marked current.

import { api, messageOf } from "./api.js";
import {
  $,
  announce,
  formatDuration,
  h,
  jobHref,
  preservingFocus,
  shortId,
  stateBadge,
  timeElement,
} from "./dom.js";
import { state } from "./state.js";

const RECENT_JOBS = 20;

/**
 * What a click on a row (outside its link) does (set by app.js: open the job).
 * @type {(id: string) => void}
 */
let openRow = () => {};

/** @param {(id: string) => void} handler called with the job id of a clicked row */
export function onRowClick(handler) {
  openRow = handler;
}

export async function loadJobs() {
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
      openRow(job.id);
    });
    return row;
  });
  $("#jobs-table")
    .querySelector("tbody")
    ?.replaceChildren(...rows);
  $("#jobs-empty").hidden = jobs.length > 0;
}

export function markCurrentJobRow() {
  for (const row of document.querySelectorAll("#jobs-table tbody tr")) {
    if (row instanceof HTMLElement && row.dataset.job === state.view?.id)
      row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}
