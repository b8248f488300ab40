// DOM and formatting helpers shared by the dashboard's modules: element lookup and creation,
// badges, times and durations, the live region, and focus kept across re-renders.

/** The display name of each job kind. */
export const KIND_NAMES = { preview: "preview", rollout: "rollout", drift: "drift check" };

export const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/**
 * Creates an element with attributes (`className` sets the class; false, null and undefined are
 * left out) and children (strings become text).
 */
export function h(tag, attributes = {}, ...children) {
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

export const shortId = (id) => String(id).slice(0, 8);
export const jobHref = (id) => `#jobs/${encodeURIComponent(id)}`;

/** The state as text, with a class for its colour (colour is never the only cue). */
export function stateBadge(value) {
  return h("span", { className: `state state-${value}` }, value);
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function timeElement(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, formatTime(iso)) : "—";
}

export function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return `${minutes} min ${seconds} s`;
}

/** A running job's duration so far; a finished one's from start to finish. */
export function jobDuration(job) {
  if (job.startedAt && !job.finishedAt && job.state === "running") {
    return Date.now() - Date.parse(job.startedAt);
  }
  return job.durationMs;
}

/**
 * Marks buttons busy (their action under way) with aria-disabled rather than `disabled`: a disabled
 * button loses the focus, which a keyboard user then finds back at the top of the page. Their
 * handlers do nothing while the buttons are busy (isBusy).
 * @param {Iterable<Element>} buttons
 * @param {boolean} busy
 */
export function setBusy(buttons, busy) {
  for (const button of buttons) button.setAttribute("aria-disabled", busy ? "true" : "false");
}

/** @param {Element} button */
export const isBusy = (button) => button.getAttribute("aria-disabled") === "true";

/** Says something in the polite live region. */
export function announce(message) {
  $("#status").textContent = message;
}

/** Re-renders a table and gives the focus back to the same link if it had it. */
export function preservingFocus(container, render) {
  const active = document.activeElement;
  const href =
    active instanceof HTMLAnchorElement && container.contains(active) ? active.getAttribute("href") : null;
  render();
  if (href) {
    const again = [...container.querySelectorAll("a")].find((link) => link.getAttribute("href") === href);
    again?.focus();
  }
}
