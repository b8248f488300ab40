/**
 * The orders service end to end in the local cloud: a POST writes the order, the table's stream
 * hands the INSERT to the acknowledge function, which signs a receipt with the key it reads from
 * SSM (the local parameter) and writes it back; that MODIFY is skipped, as on AWS.
 */
import { strict as assert } from "node:assert";
import { createHmac } from "node:crypto";
import * as fs from "node:fs";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { LocalCloud } from "../../automation/local/cloud";
import { placeOrder } from "./support";

const SIGNING_KEY = "local-signing-key-for-tests";

describe("local DynamoDB streams and their consumers", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;

  before(async () => {
    cloud = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      parameters: { "/orders/webhook-signing-key": SIGNING_KEY },
    });
  });
  after(async () => cloud?.close());

  it("reads the plan's stream mapping with its retry limit and on-failure queue", () => {
    const mapping = cloud.model.streamMappings.find((m) => m.tableName === "platform-dev-orders-table");
    assert.equal(mapping?.functionName, "platform-dev-orders-acknowledge");
    assert.ok(mapping?.onFailureQueueName?.endsWith("-stream-failures"));
    assert.equal(mapping?.reportBatchItemFailures, true);
  });

  it("acknowledges a created order with a receipt signed by the SSM key, through the table's stream", async () => {
    const orderId = await placeOrder(cloud, { item: "widget", quantity: 1 });
    await cloud.streams.deliver();
    const { Item } = await cloud.dynamoDb.client.send(
      new GetItemCommand({ TableName: "platform-dev-orders-table", Key: { orderId: { S: orderId } } }),
    );
    assert.ok(Item?.acknowledgedAt?.S, "the order was not acknowledged");
    assert.equal(Item?.receipt?.S, createHmac("sha256", SIGNING_KEY).update(orderId).digest("hex"));
    assert.equal(
      cloud.streams.backlog("platform-dev-orders-table"),
      0,
      "the consumer's own MODIFY was delivered and skipped",
    );
  });

  it("sends a batch whose retries are spent to the mapping's on-failure queue", async () => {
    const mapping = cloud.model.streamMappings[0];
    const failures = mapping.onFailureQueueName ?? "";
    const before = cloud.queues.depth(failures);
    // An order without its signing key cannot be acknowledged: every attempt fails the record.
    const withoutKey = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      dataDir: `${cloud.dataDir}-nokey`,
    });
    try {
      await placeOrder(withoutKey, { item: "gadget", quantity: 3 });
      await withoutKey.streams.deliver();
      assert.equal(withoutKey.streams.backlog("platform-dev-orders-table"), 0);
      assert.equal(withoutKey.queues.depth(failures), 1, "the failed batch is on the on-failure queue");
    } finally {
      await withoutKey.close();
      fs.rmSync(withoutKey.dataDir, { recursive: true, force: true });
    }
    assert.equal(cloud.queues.depth(failures), before);
  });
});
