/**
 * The local cloud's SQS: the plan's queues in memory, the SQS API calls a client or a function
 * makes on them (JSON protocol: SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessage,
 * GetQueueUrl, GetQueueAttributes), and the plan's event source mappings delivering batches to their
 * consumers as Lambda's SQS poller does: at most `batchSize` visible messages per invocation, every
 * message back on an error, only the `batchItemFailures` back with `ReportBatchItemFailures`, a
 * message moved to its dead-letter queue once received `maxReceiveCount` times.
 */
import { randomUUID } from "node:crypto";
import type { InvokeResult } from "./functions";
import type { LocalQueue, LocalQueueMapping } from "./model";
import { asked, type MessageAttributes, md5, md5OfMessageAttributes, SqsError } from "./sqs-protocol";

interface Message {
  messageId: string;
  body: string;
  sentTimestamp: number;
  firstReceiveTimestamp?: number;
  receiveCount: number;
  /** Not deliverable before this time (a receive hides it for the visibility timeout). */
  visibleAt: number;
  receiptHandle?: string;
  deadLetterSourceArn?: string;
  messageAttributes: MessageAttributes;
}

interface QueueState {
  queue: LocalQueue;
  messages: Message[];
}

export class LocalQueues {
  private readonly queues = new Map<string, QueueState>();
  private timer?: NodeJS.Timeout;
  /** The polling round in progress: rounds run one after another, never two at once. */
  private round: Promise<number> = Promise.resolve(0);
  private delivering = false;
  private mappings: LocalQueueMapping[] = [];

  constructor(
    private readonly invoke: (functionName: string, event: unknown) => Promise<InvokeResult>,
    private readonly endpoint: () => string,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Brings the queues and mappings to the plan; messages of queues that remain are kept. */
  apply(queues: LocalQueue[], mappings: LocalQueueMapping[]): string[] {
    const changes: string[] = [];
    const wanted = new Set(queues.map((q) => q.name));
    for (const queue of queues) {
      const existing = this.queues.get(queue.name);
      if (existing) existing.queue = queue;
      else {
        this.queues.set(queue.name, { queue, messages: [] });
        changes.push(`queue ${queue.name} created`);
      }
    }
    for (const name of [...this.queues.keys()]) {
      if (wanted.has(name)) continue;
      this.queues.delete(name);
      changes.push(`queue ${name} deleted`);
    }
    this.mappings = mappings;
    if (mappings.length > 0 && !this.timer) {
      this.timer = setInterval(() => {
        if (!this.delivering) void this.deliver();
      }, 100);
      this.timer.unref();
    }
    return changes;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Sends a message to a queue by name, as SendMessage does; throws SQS's error for an unknown queue. */
  send(name: string, body: string, attributes: MessageAttributes = {}): void {
    this.handle("SendMessage", {
      QueueUrl: this.queueUrl(name),
      MessageBody: body,
      MessageAttributes: attributes,
    });
  }

  queueUrl(name: string): string {
    return `${this.endpoint()}/${this.accountId}/${name}`;
  }

  private byUrl(url: unknown): QueueState {
    const name = typeof url === "string" ? url.split("/").pop() : undefined;
    const state = name ? this.queues.get(name) : undefined;
    if (!state)
      throw new SqsError(
        "AWS.SimpleQueueService.NonExistentQueue",
        `The specified queue does not exist: ${String(url)}`,
      );
    return state;
  }

  private byArn(arn: string): QueueState | undefined {
    return this.queues.get(arn.split(":").pop() ?? "");
  }

  private enqueue(
    state: QueueState,
    body: string,
    attributes: Message["messageAttributes"] = {},
    delaySeconds = 0,
  ): Message {
    if (typeof body !== "string" || body.length === 0)
      throw new SqsError("MissingParameter", "The request must contain the parameter MessageBody.");
    if (Buffer.byteLength(body) > 262_144)
      throw new SqsError(
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
      );
    const message: Message = {
      messageId: randomUUID(),
      body,
      sentTimestamp: Date.now(),
      receiveCount: 0,
      visibleAt: Date.now() + delaySeconds * 1000,
      messageAttributes: attributes,
    };
    state.messages.push(message);
    return message;
  }

  /** Takes up to `max` visible messages, hiding them for the queue's visibility timeout. */
  private receive(
    state: QueueState,
    max: number,
    visibilitySeconds = state.queue.visibilityTimeoutSeconds,
  ): Message[] {
    const now = Date.now();
    const taken: Message[] = [];
    for (const message of state.messages) {
      if (taken.length >= max) break;
      if (message.visibleAt > now) continue;
      const redrive = state.queue.redrive;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        this.moveToDeadLetter(state, message, redrive.deadLetterTargetArn);
        continue;
      }
      message.receiveCount += 1;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + visibilitySeconds * 1000;
      message.receiptHandle = randomUUID();
      taken.push(message);
    }
    return taken;
  }

  private moveToDeadLetter(state: QueueState, message: Message, deadLetterArn: string): void {
    state.messages = state.messages.filter((m) => m !== message);
    const target = this.byArn(deadLetterArn);
    if (!target) return;
    target.messages.push({
      ...message,
      receiveCount: 0,
      visibleAt: Date.now(),
      receiptHandle: undefined,
      deadLetterSourceArn: state.queue.arn,
    });
  }

  private remove(state: QueueState, receiptHandle: unknown): void {
    state.messages = state.messages.filter((m) => m.receiptHandle !== receiptHandle);
  }

  /** One SQS API call (the JSON protocol's `AmazonSQS.<Action>` and its input). */
  handle(action: string, input: Record<string, unknown>): Record<string, unknown> {
    switch (action) {
      case "GetQueueUrl": {
        const name = String(input.QueueName);
        if (!this.queues.has(name))
          throw new SqsError(
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
          );
        return { QueueUrl: this.queueUrl(name) };
      }
      case "SendMessage": {
        const message = this.enqueue(
          this.byUrl(input.QueueUrl),
          input.MessageBody as string,
          (input.MessageAttributes ?? {}) as Message["messageAttributes"],
          Number(input.DelaySeconds ?? 0),
        );
        return {
          MessageId: message.messageId,
          MD5OfMessageBody: md5(message.body),
          MD5OfMessageAttributes: md5OfMessageAttributes(message.messageAttributes),
        };
      }
      case "SendMessageBatch": {
        const state = this.byUrl(input.QueueUrl);
        const entries = (input.Entries ?? []) as {
          Id: string;
          MessageBody: string;
          DelaySeconds?: number;
          MessageAttributes?: MessageAttributes;
        }[];
        return {
          Successful: entries.map((entry) => {
            const message = this.enqueue(
              state,
              entry.MessageBody,
              entry.MessageAttributes ?? {},
              Number(entry.DelaySeconds ?? 0),
            );
            return {
              Id: entry.Id,
              MessageId: message.messageId,
              MD5OfMessageBody: md5(message.body),
              MD5OfMessageAttributes: md5OfMessageAttributes(message.messageAttributes),
            };
          }),
          Failed: [],
        };
      }
      case "ReceiveMessage": {
        const state = this.byUrl(input.QueueUrl);
        const max = Math.min(10, Math.max(1, Number(input.MaxNumberOfMessages ?? 1)));
        const messages = this.receive(
          state,
          max,
          input.VisibilityTimeout === undefined ? undefined : Number(input.VisibilityTimeout),
        );
        // The attributes a receive asks for (`MessageAttributeNames`), and the system ones
        // (`MessageSystemAttributeNames`, or the older `AttributeNames`).
        const systemNames = input.MessageSystemAttributeNames ?? input.AttributeNames;
        return {
          Messages: messages.map((m) => {
            const attributes = Object.fromEntries(
              Object.entries(m.messageAttributes).filter(([name]) =>
                asked(input.MessageAttributeNames, name),
              ),
            );
            const system = Object.fromEntries(
              Object.entries({
                ApproximateReceiveCount: String(m.receiveCount),
                SentTimestamp: String(m.sentTimestamp),
                ApproximateFirstReceiveTimestamp: String(m.firstReceiveTimestamp ?? m.sentTimestamp),
                DeadLetterQueueSourceArn: m.deadLetterSourceArn,
              }).filter(([name, value]) => value !== undefined && asked(systemNames, name)),
            );
            return {
              MessageId: m.messageId,
              ReceiptHandle: m.receiptHandle,
              Body: m.body,
              MD5OfBody: md5(m.body),
              ...(Object.keys(attributes).length > 0
                ? {
                    MessageAttributes: attributes,
                    MD5OfMessageAttributes: md5OfMessageAttributes(attributes),
                  }
                : {}),
              ...(Object.keys(system).length > 0 ? { Attributes: system } : {}),
            };
          }),
        };
      }
      case "DeleteMessage":
        this.remove(this.byUrl(input.QueueUrl), input.ReceiptHandle);
        return {};
      case "GetQueueAttributes": {
        const state = this.byUrl(input.QueueUrl);
        const now = Date.now();
        return {
          Attributes: {
            QueueArn: state.queue.arn,
            ApproximateNumberOfMessages: String(state.messages.filter((m) => m.visibleAt <= now).length),
            ApproximateNumberOfMessagesNotVisible: String(
              state.messages.filter((m) => m.visibleAt > now).length,
            ),
            VisibilityTimeout: String(state.queue.visibilityTimeoutSeconds),
          },
        };
      }
      default:
        throw new SqsError("InvalidAction", `The action ${action} is not served by the local cloud.`);
    }
  }

  /** The SQS event Lambda's poller sends a consumer for these messages. */
  private event(state: QueueState, messages: Message[]): unknown {
    return {
      Records: messages.map((m) => ({
        messageId: m.messageId,
        receiptHandle: m.receiptHandle,
        body: m.body,
        attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentTimestamp),
          SenderId: "AIDALOCALCLOUDSENDER",
          ApproximateFirstReceiveTimestamp: String(m.firstReceiveTimestamp),
          ...(m.deadLetterSourceArn ? { DeadLetterQueueSourceArn: m.deadLetterSourceArn } : {}),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(m.messageAttributes).map(([name, value]) => [
            name,
            {
              stringValue: value.StringValue,
              binaryValue: value.BinaryValue,
              stringListValues: [],
              binaryListValues: [],
              dataType: value.DataType,
            },
          ]),
        ),
        md5OfBody: md5(m.body),
        eventSource: "aws:sqs",
        eventSourceARN: state.queue.arn,
        awsRegion: this.region,
      })),
    };
  }

  /** One polling round, after the one in progress: every mapping takes a batch to its consumer. */
  deliver(): Promise<number> {
    this.round = this.round.then(
      () => this.deliverRound(),
      () => this.deliverRound(),
    );
    return this.round;
  }

  private async deliverRound(): Promise<number> {
    this.delivering = true;
    let delivered = 0;
    try {
      for (const mapping of this.mappings) {
        const state = this.byArn(mapping.eventSourceArn);
        if (!state) continue;
        const batch = this.receive(state, mapping.batchSize);
        if (batch.length === 0) continue;
        delivered += batch.length;
        const result = await this.invoke(mapping.functionName, this.event(state, batch));
        if (result.error || result.payload === undefined) continue; // all stay, visible again after the timeout
        let failed = new Set<string>();
        if (mapping.reportBatchItemFailures) {
          const response = JSON.parse(result.payload) as {
            batchItemFailures?: { itemIdentifier?: string }[];
          } | null;
          failed = new Set((response?.batchItemFailures ?? []).map((f) => String(f.itemIdentifier)));
        }
        for (const message of batch)
          if (!failed.has(message.messageId)) this.remove(state, message.receiptHandle);
      }
    } finally {
      this.delivering = false;
    }
    return delivered;
  }

  /** Makes a queue's hidden messages visible, as if their visibility timeout had passed. */
  makeVisible(name: string): void {
    for (const message of this.queues.get(name)?.messages ?? [])
      message.visibleAt = Math.min(message.visibleAt, Date.now());
  }

  /** Messages waiting in a queue (visible or not), for tests and the dev server. */
  depth(name: string): number {
    return this.queues.get(name)?.messages.length ?? 0;
  }
}
