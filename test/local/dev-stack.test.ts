/**
 * The dev stack's own plan served by the local cloud, over HTTP: every route of the users API as a
 * client reaches it, with IAM auth checked by signature, and the routing rules of API Gateway.
 */
import { strict as assert } from "node:assert";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { LocalCloud } from "../../automation/local/cloud";
import type { RequestRecord } from "../../automation/local/gateway";
import { signedFetch } from "./support";

describe("the local cloud of the dev stack", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;
  const records: RequestRecord[] = [];
  const call = (method: string, path: string, body?: unknown) =>
    signedFetch(
      cloud.url,
      {
        method,
        path,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? {} : { "content-type": "application/json" },
      },
      cloud.credentials,
      cloud.model.region,
    );

  before(async () => {
    cloud = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      onRequest: (record) => records.push(record),
    });
  });
  after(async () => {
    await cloud?.close();
  });

  it("creates every table of the plan in its DynamoDB", async () => {
    const planned = cloud.plan.resources
      .filter((r) => r.type === "aws:dynamodb/table:Table")
      .map((r) => String(r.outputs.name))
      .sort();
    assert.ok(planned.includes("platform-dev-users-table"));
    const { TableNames = [] } = await cloud.dynamoDb.client.send(new ListTablesCommand({}));
    assert.deepEqual([...TableNames].sort(), planned);
  });

  it("answers the public health route without a signature", async () => {
    const response = await fetch(`${cloud.url}/health`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
  });

  it("refuses an unsigned request to an IAM route with 403 Missing Authentication Token", async () => {
    const response = await fetch(`${cloud.url}/users`);
    assert.equal(response.status, 403);
    assert.deepEqual(await response.json(), { message: "Missing Authentication Token" });
  });

  it("refuses a request signed with another secret key, as API Gateway does", async () => {
    const response = await signedFetch(
      cloud.url,
      { method: "GET", path: "/users" },
      { accessKeyId: cloud.credentials.accessKeyId, secretAccessKey: "not-the-local-secret" },
      cloud.model.region,
    );
    assert.equal(response.status, 403);
    assert.match(
      ((await response.json()) as { message: string }).message,
      /signature we calculated does not match/,
    );
  });

  it("refuses a signature older than 15 minutes", async () => {
    const response = await signedFetch(
      cloud.url,
      { method: "GET", path: "/users" },
      cloud.credentials,
      cloud.model.region,
      new Date(Date.now() - 16 * 60 * 1000),
    );
    assert.equal(response.status, 403);
    assert.match(((await response.json()) as { message: string }).message, /Signature expired/);
  });

  it("creates a user with a signed POST and answers 201 with its Location", async () => {
    const response = await call("POST", "/users", {
      userId: "ada",
      name: "Ada Lovelace",
      email: "ada@example.com",
    });
    assert.equal(response.status, 201);
    // The path the client would use on AWS: an execute-api URL has the stage first.
    assert.equal(response.headers.get("location"), `/${cloud.model.apis[0].stageName}/users/ada`);
    assert.equal(((await response.json()) as { name: string }).name, "Ada Lovelace");
  });

  it("follows the Location of a 201 to the user, the stage prefix included", async () => {
    const response = await call("GET", `/${cloud.model.apis[0].stageName}/users/ada`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { userId: string }).userId, "ada");
  });

  it("reads the user back through its path parameter", async () => {
    const response = await call("GET", "/users/ada");
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { email: string }).email, "ada@example.com");
  });

  it("decodes a percent-encoded path parameter as API Gateway does", async () => {
    await call("POST", "/users", { userId: "grace_h", name: "Grace Hopper", email: "grace@example.com" });
    const response = await call("GET", "/users/grace%5Fh");
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { userId: string }).userId, "grace_h");
  });

  it("lists users a page at a time with nextToken", async () => {
    for (const id of ["u1", "u2", "u3"])
      await call("POST", "/users", { userId: id, name: id, email: `${id}@example.com` });
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const response = await call("GET", `/users?limit=2${token ? `&nextToken=${token}` : ""}`);
      assert.equal(response.status, 200);
      const page = (await response.json()) as { items: { userId: string }[]; nextToken?: string };
      assert.ok(page.items.length <= 2);
      for (const item of page.items) seen.add(item.userId);
      token = page.nextToken;
      pages += 1;
    } while (token && pages < 10);
    assert.ok(pages >= 3, `expected several pages, got ${pages}`);
    for (const id of ["ada", "grace_h", "u1", "u2", "u3"]) assert.ok(seen.has(id), `${id} was not listed`);
  });

  it("updates a user with PUT", async () => {
    const response = await call("PUT", "/users/ada", { name: "Augusta Ada King", email: "ada@example.com" });
    assert.equal(response.status, 200);
    const read = await call("GET", "/users/ada");
    assert.equal(((await read.json()) as { name: string }).name, "Augusta Ada King");
  });

  it("deletes a user, after which reading it is a 404", async () => {
    const deleted = await call("DELETE", "/users/u3");
    assert.ok(deleted.status === 204 || deleted.status === 200, `DELETE answered ${deleted.status}`);
    const read = await call("GET", "/users/u3");
    assert.equal(read.status, 404);
  });

  it("answers a handler's validation error with its 400 and message", async () => {
    const response = await call("POST", "/users", { name: "no id" });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { message: string }).message, /userId is required/);
  });

  it("answers 403 Missing Authentication Token for a path no resource matches", async () => {
    const response = await call("GET", "/nowhere");
    assert.equal(response.status, 403);
    assert.deepEqual(await response.json(), { message: "Missing Authentication Token" });
  });

  it("answers 403 Missing Authentication Token for a method the resource does not declare", async () => {
    const response = await call("PATCH", "/users/ada", {});
    assert.equal(response.status, 403);
  });

  it("logs one record per request with the function and its cold start", async () => {
    const first = records.find(
      (r) => r.functionName === "platform-dev-users-get" && r.path.startsWith("/users/ada"),
    );
    assert.ok(first, "no record of GET /users/ada");
    const gets = records.filter((r) => r.functionName === "platform-dev-users-get");
    assert.equal(gets.filter((r) => r.cold).length, 1, "only the first request to a function starts cold");
    assert.ok((gets.find((r) => r.cold)?.initDurationMs ?? -1) >= 0);
  });
});
