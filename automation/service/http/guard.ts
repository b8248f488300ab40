import type { Server } from "node:http";
import { isIP, type Socket } from "node:net";

/** What the service allows a connection before it is closed. */
export interface ConnectionLimits {
  /**
   * Connections open at once. A connection past it closes the oldest one that has no request in
   * flight (an idle or half-sent one), or is itself closed when every connection is busy, so that
   * a flood of idle connections cannot keep `/healthz` out.
   * @default 4096
   */
  maxConnections: number;
  /**
   * How long a connection may stay silent before its first request and between requests (the
   * keep-alive timeout). A connection that sent an authorized request keeps no timeout while that
   * request (an event stream) lasts.
   * @default 5000
   */
  idleMs: number;
  /** How long a request's headers may take to arrive (a slow, byte-by-byte sender is closed). @default 10000 */
  headersTimeoutMs: number;
  /**
   * Bytes of events an event stream may hold for a client that does not read them before the
   * stream is closed (the client resumes with `Last-Event-ID`).
   * @default 262144
   */
  streamBufferBytes: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 4096,
  idleMs: 5000,
  headersTimeoutMs: 10_000,
  streamBufferBytes: 256 * 1024,
};

/** The `http` options of the server (passed to `http.createServer`) that enforce the limits. */
export function httpServerOptions(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // Node.js checks the headers timeout on this interval: a slow sender lasts at most the sum.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    // A request without Host gets the service's own JSON 400 (HostGuard), not Node.js's empty one.
    requireHostHeader: false,
  };
}

/**
 * Caps the open connections of `server`: at the cap, a new connection closes the oldest one with no
 * request in flight, else itself. New connections get `idleMs` until they send a request.
 * @returns the number of open connections (for tests and metrics)
 */
export function capConnections(server: Server, limits: ConnectionLimits): () => number {
  // In order of arrival: the first idle one found is the oldest.
  const open = new Map<Socket, { requests: number }>();
  server.on("connection", (socket: Socket) => {
    if (open.size >= limits.maxConnections) {
      let evicted = false;
      for (const [candidate, state] of open) {
        if (state.requests === 0) {
          candidate.destroy();
          open.delete(candidate);
          evicted = true;
          break;
        }
      }
      if (!evicted) {
        socket.destroy();
        return;
      }
    }
    open.set(socket, { requests: 0 });
    // Node.js destroys a socket that times out when nothing else listens for it.
    socket.setTimeout(limits.idleMs);
    socket.once("close", () => open.delete(socket));
  });
  server.on("request", (request, response) => {
    const state = open.get(request.socket);
    if (!state) return;
    state.requests++;
    response.once("close", () => {
      state.requests--;
    });
  });
  return () => open.size;
}

/** A Host header's name: lower case, without its port, brackets or trailing dot. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase();
  const name = value.startsWith("[")
    ? value.slice(1, value.indexOf("]") === -1 ? undefined : value.indexOf("]"))
    : value.replace(/:\d*$/, "");
  return name.replace(/\.$/, "");
}

const LOCAL_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/**
 * Decides whether a request's Host is one the service answers to: `localhost`, a loopback
 * address, the address the request came in on, or a name of `allowedHosts` (`*` allows any).
 * A web page on a name that an attacker re-points at 127.0.0.1 (DNS rebinding) sends that
 * name as its Host, and is refused.
 */
export function hostAllowed(
  allowedHosts: readonly string[],
): (host: string, localAddress?: string) => boolean {
  const names = new Set(allowedHosts.map(hostName));
  const any = names.has("*");
  return (host, localAddress) => {
    if (any) return true;
    const name = hostName(host);
    if (LOCAL_NAMES.has(name) || names.has(name)) return true;
    // An address is not a name anyone can re-point: the one the connection was made to is fine.
    const local = localAddress?.replace(/^::ffff:/, "");
    return isIP(name) !== 0 && name === local;
  };
}
