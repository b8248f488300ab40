import * as assert from "node:assert/strict";
import * as path from "node:path";
import { pathMatches, serviceRoutes, validateServices } from "../../components/service-validation";
import type { FunctionDeclaration, ServiceDeclaration } from "../../functions/shared/service-declaration";
import { usersService } from "../../functions/users/service";

const ROOT = path.resolve(__dirname, "..", "..");

function get(route: string, smokePath: string): FunctionDeclaration {
  return {
    handler: "functions/health/index.ts",
    trigger: { type: "http", route, smoke: { path: smokePath } },
  };
}

/** A valid service with one table and one route, changed by `overrides`. */
function service(overrides: Partial<ServiceDeclaration> = {}): ServiceDeclaration {
  return {
    name: "things",
    api: { basePath: "/things" },
    tables: { things: { hashKey: { name: "id", type: "S" } } },
    functions: { get: { ...get("GET /things/{id}", "/things/x"), access: { tables: { things: "read" } } } },
    ...overrides,
  };
}

function problems(services: ServiceDeclaration[]): string {
  try {
    validateServices(services, ROOT);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("expected the declarations to be rejected");
}

describe("service declarations", () => {
  it("accepts the users declaration", () => {
    validateServices([usersService], ROOT);
  });

  it("rejects an unknown handler file, naming the service and the field", () => {
    const bad = service({
      functions: { get: { ...get("GET /things/{id}", "/things/x"), handler: "functions/things/nope.ts" } },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.get\.handler: no handler file "functions\/things\/nope\.ts"/,
    );
  });

  it("rejects a grant on a table the service does not have, listing its tables", () => {
    const bad = service({
      functions: { get: { ...get("GET /things/{id}", "/things/x"), access: { tables: { users: "read" } } } },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.get\.access\.tables\.users: the service has no table users \(its tables: things\)/,
    );
  });

  it("rejects two services claiming one route, even with other parameter names", () => {
    const other = service({
      name: "others",
      api: { own: true },
      functions: { find: get("GET /things/{thingId}", "/things/y") },
    });
    assert.match(
      problems([service(), other]),
      /service others: functions\.find\.trigger\.route: GET \/things\/\{thingId\} is already served by service things \(function get\)/,
    );
  });

  it("rejects a route the platform serves itself", () => {
    const bad = service({
      name: "health",
      api: { own: true },
      functions: { ping: get("GET /health", "/health") },
    });
    assert.match(
      problems([bad]),
      /service health: functions\.ping\.trigger\.route: GET \/health is already served by the platform/,
    );
  });

  it("rejects a smoke request whose path its route cannot serve", () => {
    const bad = service({ functions: { get: get("GET /things/{id}", "/things") } });
    assert.match(
      problems([bad]),
      /service things: functions\.get\.trigger\.smoke\.path: \/things does not match the route GET \/things\/\{id\}/,
    );
  });

  it("rejects a route outside the service's base path", () => {
    const bad = service({ functions: { get: get("GET /users/{id}", "/users/x") } });
    assert.match(
      problems([bad]),
      /service things: functions\.get\.trigger\.route: GET \/users\/\{id\} is outside the service's base path \/things/,
    );
  });

  it("rejects two services with one base path", () => {
    const other = service({ name: "others", functions: { list: get("GET /things", "/things") } });
    assert.match(
      problems([service(), other]),
      /service others: api\.basePath: \/things is already the base path of service things/,
    );
  });

  it("rejects a queue trigger on a queue the service does not declare", () => {
    const bad = service({
      functions: {
        work: { handler: "functions/health/index.ts", trigger: { type: "queue", queue: "jobs" } },
      },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.work\.trigger\.queue: the service has no queue jobs \(its queues: none\)/,
    );
  });

  it("rejects a stream trigger on a table that declares no stream", () => {
    const bad = service({
      functions: {
        watch: { handler: "functions/health/index.ts", trigger: { type: "stream", table: "things" } },
      },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.watch\.trigger\.table: table things declares no stream/,
    );
  });

  /** The service with a `work` function triggered by its `jobs` queue, batching as given. */
  function queueConsumer(batching: { batchSize?: number; maxBatchingWindowSeconds?: number }) {
    return service({
      queues: { jobs: {} },
      functions: {
        work: {
          handler: "functions/health/index.ts",
          trigger: { type: "queue", queue: "jobs", ...batching },
        },
      },
    });
  }

  /** The service with a streamed table and a `watch` function triggered by its stream, as given. */
  function streamConsumer(settings: {
    batchSize?: number;
    maximumRetryAttempts?: number;
    maximumRecordAgeSeconds?: number;
  }) {
    return service({
      tables: { things: { hashKey: { name: "id", type: "S" }, stream: "NEW_IMAGE" } },
      functions: {
        watch: {
          handler: "functions/health/index.ts",
          trigger: { type: "stream", table: "things", ...settings },
        },
      },
    });
  }

  it("accepts a queue trigger with a batch size above 10 and a batching window", () => {
    validateServices([queueConsumer({ batchSize: 100, maxBatchingWindowSeconds: 5 })], ROOT);
  });

  it("rejects a queue trigger with a batch size above 10 and no batching window, naming the allowed window", () => {
    assert.match(
      problems([queueConsumer({ batchSize: 100 })]),
      /service things: functions\.work\.trigger\.maxBatchingWindowSeconds: must be from 1 to 300 when batchSize is above 10 \(batchSize 100, window 0\)/,
    );
  });

  it("rejects a queue trigger batch size outside 1 to 10000", () => {
    assert.match(
      problems([queueConsumer({ batchSize: 20000, maxBatchingWindowSeconds: 5 })]),
      /service things: functions\.work\.trigger\.batchSize: must be an integer from 1 to 10000 \(got 20000\)/,
    );
  });

  it("rejects a queue trigger batching window above 300 s", () => {
    assert.match(
      problems([queueConsumer({ maxBatchingWindowSeconds: 600 })]),
      /service things: functions\.work\.trigger\.maxBatchingWindowSeconds: must be an integer from 0 to 300 \(got 600\)/,
    );
  });

  it("rejects a stream trigger batch size of 0", () => {
    assert.match(
      problems([streamConsumer({ batchSize: 0 })]),
      /service things: functions\.watch\.trigger\.batchSize: must be an integer from 1 to 10000 \(got 0\)/,
    );
  });

  it("rejects unbounded stream retries (-1) and a record age below 60 s", () => {
    const message = problems([streamConsumer({ maximumRetryAttempts: -1, maximumRecordAgeSeconds: 30 })]);

    assert.match(
      message,
      /functions\.watch\.trigger\.maximumRetryAttempts: must be an integer from 0 to 10000 \(got -1\)/,
    );
    assert.match(
      message,
      /functions\.watch\.trigger\.maximumRecordAgeSeconds: must be an integer from 60 to 604800 \(got 30\)/,
    );
  });

  it("rejects access to a secret the service does not declare", () => {
    const bad = service({
      functions: { get: { ...get("GET /things/{id}", "/things/x"), access: { secrets: ["token"] } } },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.get\.access\.secrets: the service has no secret token/,
    );
  });

  it("rejects a schedule expression that is not rate, cron or at", () => {
    const bad = service({
      functions: {
        tick: {
          handler: "functions/health/index.ts",
          trigger: { type: "schedule", expression: "every hour" },
        },
      },
    });
    assert.match(
      problems([bad]),
      /service things: functions\.tick\.trigger\.expression: must be rate\(N unit\), cron\(\.\.\.\) or at\(\.\.\.\)/,
    );
  });

  it("lists every problem at once", () => {
    const bad = service({ name: "Bad Name", functions: { get: get("GET /things/{id}", "/nope") } });
    const message = problems([bad]);
    assert.match(message, /service Bad Name: name:/);
    assert.match(message, /service Bad Name: functions\.get\.trigger\.smoke\.path:/);
  });

  it("resolves a service's routes with the method and template a smoke hook sends", () => {
    const list = serviceRoutes(usersService).find((route) => route.function === "list");
    assert.deepEqual(list?.smoke, {
      path: "/users?limit=1",
      expectStatus: 200,
      expectBody: '"items"',
      method: "GET",
      resource: "/users",
    });
  });

  it("matches a path against a template, one segment per parameter", () => {
    assert.equal(pathMatches("/users/{userId}", "/users/42?x=1"), true);
    assert.equal(pathMatches("/users/{userId}", "/users/42/more"), false);
    assert.equal(pathMatches("/users", "/users?limit=1"), true);
  });
});
