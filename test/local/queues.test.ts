/**
 * The local cloud delivers the plan's queues to their consumers, as Lambda's SQS poller does: the
 * orders service's fulfilment queue, driven by the AWS SDK's own SQS client, with a poison message
 * redriven to the dead-letter queue after maxReceiveCount.
 */
import { strict as assert } from "node:assert";
import {
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { LocalCloud } from "../../automation/local/cloud";
import { placeOrder, signedFetch } from "./support";

describe("local SQS queues and their consumers", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;
  let sqs: SQSClient;
  const queueOf = (suffix: string) => {
    const queue = cloud.model.queues.find((q) => q.name.endsWith(suffix));
    assert.ok(queue, `no queue ending ${suffix} in the plan`);
    return queue;
  };

  before(async () => {
    cloud = await LocalCloud.start({ stack: "dev", inMemory: true });
    const endpoint = new URL(cloud.queues.queueUrl("x")).origin;
    sqs = new SQSClient({ endpoint, region: cloud.model.region, credentials: cloud.credentials });
  });
  after(async () => {
    sqs?.destroy();
    await cloud?.close();
  });

  it("reads the plan's queues, their redrive policy and the mapping to the consumer's live alias", () => {
    const queue = queueOf("-orders-fulfilment");
    assert.equal(queue.redrive?.deadLetterTargetArn, queueOf("-orders-fulfilment-dlq").arn);
    const mapping = cloud.model.queueMappings.find((m) => m.eventSourceArn === queue.arn);
    assert.equal(mapping?.functionName, "platform-dev-orders-fulfil");
    assert.equal(mapping?.reportBatchItemFailures, true);
  });

  it("fulfils the good message of a batch, keeps the poison one, and redrives it to the DLQ after maxReceiveCount", async () => {
    const orderId = await placeOrder(cloud, { item: "widget", quantity: 2 });

    const queue = queueOf("-orders-fulfilment");
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: "good", MessageBody: JSON.stringify({ orderId }) },
          { Id: "poison", MessageBody: "not an order" },
        ],
      }),
    );
    assert.equal(sent.Successful?.length, 2);

    await cloud.queues.deliver();
    assert.equal(cloud.queues.depth(queue.name), 1, "only the poison message stays after the first batch");
    const read = await signedFetch(
      cloud.url,
      { method: "GET", path: `/orders/${orderId}` },
      cloud.credentials,
      cloud.model.region,
    );
    assert.equal(((await read.json()) as { status: string }).status, "fulfilled");

    const maxReceiveCount = queue.redrive?.maxReceiveCount ?? 0;
    for (let receive = 1; receive < maxReceiveCount; receive += 1) {
      cloud.queues.makeVisible(queue.name);
      await cloud.queues.deliver();
    }
    cloud.queues.makeVisible(queue.name);
    await cloud.queues.deliver();
    assert.equal(cloud.queues.depth(queue.name), 0);
    const dlq = queueOf("-orders-fulfilment-dlq");
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: cloud.queues.queueUrl(dlq.name), MaxNumberOfMessages: 10 }),
    );
    assert.deepEqual(
      Messages.map((m) => m.Body),
      ["not an order"],
    );
  });

  it("answers a call on a queue the stack does not have with SQS's error", async () => {
    await assert.rejects(sqs.send(new GetQueueUrlCommand({ QueueName: "no-such-queue" })), (error: Error) =>
      /does not exist/.test(error.message),
    );
  });
});
