/**
 * The traffic model of the cost estimate: which API routes the stage's monthly requests reach, and
 * how many DynamoDB request units one request on each route consumes. These are assumptions, not
 * prices (those are in prices.ts); the estimate prints them with its result.
 *
 * The model: every API request invokes exactly one function, through its route's integration; the
 * requests are split evenly over the routes that carry traffic.
 */

/** What one request on a route does. */
export interface RouteModel {
  /**
   * Whether the stage's monthly requests are spread over this route. A route that does not carry
   * traffic gets no requests in the estimate.
   */
  carriesTraffic: boolean;
  /** DynamoDB read request units one request consumes (on-demand tables). */
  readUnits: number;
  /** DynamoDB write request units one request consumes (on-demand tables). */
  writeUnits: number;
  /** Why, as printed with the estimate. */
  reason: string;
}

/**
 * The routes of the users API (components/platform.ts), keyed `METHOD /path` as in the plan. Item
 * sizes are assumed small: a user item is under 1 KB.
 */
export const ROUTE_MODELS: Record<string, RouteModel> = {
  // HEALTH_PATH of components/platform.ts: only CodeDeploy hooks and rollout health checks call it,
  // a handful of requests per deployment, so it is left out of the split of user traffic.
  "GET /health": {
    carriesTraffic: false,
    readUnits: 0,
    writeUnits: 0,
    reason: "deployment checks only, no user traffic; no DynamoDB access",
  },
  "GET /users": {
    carriesTraffic: true,
    readUnits: 2,
    writeUnits: 0,
    reason: "a Scan page of up to 16 KB, eventually consistent",
  },
  "GET /users/{userId}": {
    carriesTraffic: true,
    readUnits: 1,
    writeUnits: 0,
    reason: "a GetItem up to 4 KB, strongly consistent",
  },
  "POST /users": {
    carriesTraffic: true,
    readUnits: 0,
    writeUnits: 1,
    reason: "a conditional PutItem up to 1 KB",
  },
  "PUT /users/{userId}": {
    carriesTraffic: true,
    readUnits: 0,
    writeUnits: 1,
    reason: "a conditional UpdateItem up to 1 KB",
  },
  "DELETE /users/{userId}": {
    carriesTraffic: true,
    readUnits: 0,
    writeUnits: 1,
    reason: "a DeleteItem up to 1 KB",
  },
};

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The model of a route: its entry in ROUTE_MODELS, or by default one small item read (GET, HEAD,
 * OPTIONS) or one small item write (any other method), so that a new route is still estimated.
 */
export function routeModel(route: string): RouteModel {
  const known = ROUTE_MODELS[route];
  if (known) return known;
  const method = route.split(" ")[0]?.toUpperCase() ?? "";
  return READ_METHODS.has(method)
    ? { carriesTraffic: true, readUnits: 1, writeUnits: 0, reason: "default for a read route: 1 RRU" }
    : { carriesTraffic: true, readUnits: 0, writeUnits: 1, reason: "default for a write route: 1 WRU" };
}
