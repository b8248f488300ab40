// The stacks grid: a row per stage, a column per region, each cell the stack's last rollout,
// drift check and running job.

import { api, messageOf } from "./api.js";
import { $, announce, h, jobHref, KIND_NAMES, preservingFocus, stateBadge } from "./dom.js";
import { renderStageOptions } from "./start-job.js";
import { ACTIVE_STATES, state } from "./state.js";

/** @returns {Promise<boolean>} whether the stacks loaded */
export async function loadStacks() {
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
