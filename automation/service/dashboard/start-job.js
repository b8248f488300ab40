// The form that starts a preview, rollout or drift check of a stage (and some of its regions).

import { api, messageOf, UnauthorizedError } from "./api.js";
import { $, announce, h, isBusy, jobHref, KIND_NAMES, setBusy, shortId } from "./dom.js";
import { state } from "./state.js";

const SUBMIT_PATHS = { preview: "/previews", rollout: "/rollouts", drift: "/drift" };

export function renderStageOptions(stages) {
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
export function renderRegionChoices(force) {
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

/**
 * Submits a job of the kind from the form's choices; `onStarted` gets the job the service accepted.
 * @param {string} kind
 * @param {(job: any) => void} onStarted
 */
export async function startJob(kind, onStarted) {
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
  if (buttons.some(isBusy)) return;
  setBusy(buttons, true);
  setStartMessage();
  try {
    const { status, data } = await api(SUBMIT_PATHS[kind], { method: "POST", body });
    if (status === 202) {
      announce(`Started ${KIND_NAMES[kind]} ${shortId(data.id)} of ${data.stage} (${data.state}).`);
      onStarted(data);
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
    setBusy(buttons, false);
  }
}
