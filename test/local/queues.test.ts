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
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { LocalCloud } from "../../automation/local/cloud";
import { LocalControlPlane } from "../../automation/local/control-plane";
import { LocalQueues } from "../../automation/local/queues";
import { md5OfMessageAttributes } from "../../automation/local/sqs-protocol";
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

describe("local SQS message attributes", () => {
  let plane: LocalControlPlane;
  let queues: LocalQueues;
  let sqs: SQSClient;
  let queueUrl: string;

  beforeEach(async () => {
    plane = new LocalControlPlane(async () => {
      throw new Error("no functions here");
    });
    queues = new LocalQueues(
      async () => {
        throw new Error("no consumers here");
      },
      () => plane.url,
      "eu-west-1",
      "123456789012",
    );
    plane.queues = queues;
    queues.apply(
      [{ name: "jobs", arn: "arn:aws:sqs:eu-west-1:123456789012:jobs", visibilityTimeoutSeconds: 30 }],
      [],
    );
    sqs = new SQSClient({
      endpoint: await plane.listen(),
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "local" },
    });
    queueUrl = queues.queueUrl("jobs");
  });
  afterEach(async () => {
    sqs.destroy();
    queues.close();
    await plane.close();
  });

  const attributes = {
    RequestID: { DataType: "String", StringValue: "4f2b0b1e-7a5c-4d36-9a59-0d6b0d3f1c11" },
    ErrorCode: { DataType: "Number", StringValue: "200" },
    "trace.id": { DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793" },
  };

  it("computes MD5OfMessageAttributes as SQS does (published digests of two attribute sets)", () => {
    assert.equal(
      md5OfMessageAttributes({ SellerName: { DataType: "String", StringValue: "Example Store" } }),
      "cd28f3b68aeee4b2eac9c66f2f694b58",
    );
    assert.equal(
      md5OfMessageAttributes({
        ordinal: { DataType: "Number", StringValue: "1" },
        category: { DataType: "String", StringValue: "test" },
      }),
      "d21ae90c49061e927f57df5f5d72be1f",
    );
  });

  it("returns the attributes a receive asks for, with their digest, and none when it asks for none", async () => {
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "{}", MessageAttributes: attributes }),
    );
    assert.equal(sent.MD5OfMessageAttributes, md5OfMessageAttributes(attributes));
    const all = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageAttributeNames: ["All"], VisibilityTimeout: 0 }),
    );
    assert.deepEqual(all.Messages?.[0].MessageAttributes, attributes);
    assert.equal(all.Messages?.[0].MD5OfMessageAttributes, md5OfMessageAttributes(attributes));
    const none = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 0 }));
    assert.equal(none.Messages?.[0].MessageAttributes, undefined);
  });

  it("filters attributes by name and by a name prefix ending in .*", async () => {
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "{}", MessageAttributes: attributes }),
    );
    const some = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MessageAttributeNames: ["ErrorCode", "trace.*"],
        VisibilityTimeout: 0,
      }),
    );
    assert.deepEqual(Object.keys(some.Messages?.[0].MessageAttributes ?? {}).sort(), [
      "ErrorCode",
      "trace.id",
    ]);
  });

  it("keeps each entry's attributes in a batch send", async () => {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [{ Id: "a", MessageBody: "{}", MessageAttributes: attributes }],
      }),
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageAttributeNames: ["All"] }),
    );
    assert.deepEqual(Messages[0].MessageAttributes, attributes);
  });

  it("returns the system attributes asked for: the receive count rises with each receive", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "{}" }));
    const receive = () =>
      sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
          VisibilityTimeout: 0,
        }),
      );
    await receive();
    const { Messages = [] } = await receive();
    assert.equal(Messages[0].Attributes?.ApproximateReceiveCount, "2");
    assert.match(Messages[0].Attributes?.SentTimestamp ?? "", /^\d{13}$/);
  });
});
