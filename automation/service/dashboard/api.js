// Calls to the service: the bearer token kept in sessionStorage, JSON requests that carry it, and
// how failures are reported.

import { announce } from "./dom.js";

const TOKEN_KEY = "platform-api-token";

export class UnauthorizedError extends Error {}

/**
 * What a refused token does (set by app.js: sign out and ask for the token again).
 * @type {(message: string) => void}
 */
let unauthorizedHandler = () => {};

/** @param {(message: string) => void} handler called with a message when the service refuses the token */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** Tells the page that the service refused the token. */
export function unauthorized(message) {
  unauthorizedHandler(message);
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function messageOf(body, fallback) {
  return body && typeof body.message === "string" && body.message ? body.message : fallback;
}

/**
 * Calls a JSON endpoint. A 401 forgets the token and asks for it again (and throws
 * UnauthorizedError); other statuses are returned for the caller to read.
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [options] body is sent as JSON when given
 * @returns {Promise<{ status: number, ok: boolean, data: any, headers: Headers }>}
 */
export async function api(path, { method = "GET", body } = {}) {
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
    unauthorized(
      `The service did not accept the API token: ${messageOf(data, "401 Unauthorized")}. Enter it again.`,
    );
    throw new UnauthorizedError("unauthorized");
  }
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

/** Reports a failed call unless it was a 401 (already handled by asking for the token). */
export function reportFailure(what, error) {
  if (error instanceof UnauthorizedError) return;
  if (error instanceof DOMException && error.name === "AbortError") return;
  announce(`Could not ${what}: ${error instanceof Error ? error.message : String(error)}`);
}
