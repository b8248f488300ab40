/**
 * DynamoDB Streams for the local cloud. dynalite has no streams, so the functions reach DynamoDB
 * through a small proxy: a write to a table whose stream a function consumes (PutItem, UpdateItem,
 * DeleteItem, BatchWriteItem) is passed on to dynalite, and the item's images before and after it
 * become a stream record (INSERT, MODIFY or REMOVE, with the table's stream view type). Records are
 * delivered to the consumer in batches as Lambda's stream poller does: `ReportBatchItemFailures`
 * retries from the first failed record, up to the mapping's retry limit, after which the batch is
 * sent to its on-failure queue.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { type AttributeValue, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { InvokeResult } from "./functions";
import type { LocalStreamMapping, LocalTable } from "./model";
import type { LocalQueues } from "./queues";
import { LOCAL_CREDENTIALS } from "./tables";

type Item = Record<string, AttributeValue>;

interface StreamRecord {
  eventID: string;
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  eventVersion: "1.1";
  eventSource: "aws:dynamodb";
  awsRegion: string;
  dynamodb: Record<string, unknown>;
  eventSourceARN: string;
}

const WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]);
/** Passes of one delivery round before a consumer that keeps writing its own table is called a loop. */
const MAX_PASSES = 10;

export class LocalStreams {
  private readonly server: http.Server;
  private readonly client: DynamoDBClient;
  private tables = new Map<string, LocalTable>();
  private mappings: LocalStreamMapping[] = [];
  private readonly pending = new Map<string, StreamRecord[]>();
  private sequence = 0;
  private round: Promise<void> = Promise.resolve();
  /** Writes to consumed tables, one at a time: each record's images are those of its own write. */
  private writing: Promise<void> = Promise.resolve();
  /** Tables already warned about for a consumer that keeps writing them. */
  private readonly looping = new Set<string>();
  private closed = false;

  constructor(
    private readonly dynamoEndpoint: string,
    private readonly invoke: (functionName: string, event: unknown) => Promise<InvokeResult>,
    private readonly queues: LocalQueues,
    private readonly region: string,
  ) {
    this.client = new DynamoDBClient({ endpoint: dynamoEndpoint, region, credentials: LOCAL_CREDENTIALS });
    this.server = http.createServer((request, response) => {
      this.proxy(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { "Content-Type": "application/x-amz-json-1.0" });
        response.end(JSON.stringify({ __type: "InternalServerError", message: String(error) }));
      });
    });
  }

  async listen(unref = false): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    if (unref) this.server.unref();
    return this.url;
  }

  /** Where functions send their DynamoDB calls. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  apply(tables: LocalTable[], mappings: LocalStreamMapping[]): void {
    this.tables = new Map(tables.filter((t) => t.streamViewType).map((t) => [t.name, t]));
    this.mappings = mappings;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Records waiting for their consumer, per table. */
  backlog(tableName: string): number {
    return this.pending.get(tableName)?.length ?? 0;
  }

  /** The records waiting for a table's consumer, oldest first (copies). */
  pendingRecords(tableName: string): unknown[] {
    return structuredClone(this.pending.get(tableName) ?? []);
  }

  /** Delivers what is pending to the consumers, after any delivery in progress. */
  deliver(): Promise<void> {
    this.round = this.round.then(
      () => this.deliverRound(),
      () => this.deliverRound(),
    );
    return this.round;
  }

  private consumed(table: string): LocalStreamMapping | undefined {
    return this.tables.has(table) ? this.mappings.find((m) => m.tableName === table) : undefined;
  }

  private async proxy(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const action = String(request.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
    let writes: { table: string; key: Item }[] = [];
    if (WRITES.has(action)) writes = this.keysWritten(action, JSON.parse(body.toString("utf8") || "{}"));
    const forwarded =
      writes.length === 0
        ? await this.forward(request, body)
        : await this.recordedWrite(request, body, writes);
    response.writeHead(forwarded.status, forwarded.headers);
    response.end(forwarded.body);
    if (forwarded.status === 200 && writes.length > 0)
      this.deliver().catch((error: unknown) => {
        // Nothing awaits this round (the writer has its answer): its failure is shown, not left unhandled.
        if (!this.closed) process.emitWarning(`local DynamoDB streams: ${(error as Error).message}`);
      });
  }

  /**
   * A write to a consumed table, with its stream record: the item's image before, the write, the
   * image after, one write at a time so that concurrent writes to an item give one record each with
   * the right images. As on AWS, the record exists once the write is acknowledged: it is made before
   * the writer gets its answer, so whoever awaits `deliver()` after a write finds it delivered.
   */
  private recordedWrite(
    request: http.IncomingMessage,
    body: Buffer,
    writes: { table: string; key: Item }[],
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    const done = this.writing.then(async () => {
      const before = await Promise.all(writes.map((w) => this.image(w.table, w.key)));
      const forwarded = await this.forward(request, body);
      if (forwarded.status === 200) {
        const after = await Promise.all(writes.map((w) => this.image(w.table, w.key)));
        for (const [index, write] of writes.entries())
          this.record(write.table, write.key, before[index], after[index]);
      }
      return forwarded;
    });
    this.writing = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  /** The keys of the items a write touches, in tables whose stream a function consumes. */
  private keysWritten(action: string, input: Record<string, unknown>): { table: string; key: Item }[] {
    const keyOf = (table: LocalTable, item: Item): Item =>
      Object.fromEntries(
        [table.hashKey, table.rangeKey].filter((k): k is string => !!k).map((k) => [k, item[k]]),
      );
    const one = (tableName: unknown, item: Item | undefined) => {
      const table = this.tables.get(String(tableName));
      return table && item && this.consumed(table.name)
        ? [{ table: table.name, key: keyOf(table, item) }]
        : [];
    };
    if (action === "PutItem") return one(input.TableName, input.Item as Item);
    if (action === "UpdateItem" || action === "DeleteItem") return one(input.TableName, input.Key as Item);
    const requests = (input.RequestItems ?? {}) as Record<
      string,
      { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
    >;
    return Object.entries(requests).flatMap(([tableName, entries]) =>
      entries.flatMap((entry) => one(tableName, entry.PutRequest?.Item ?? entry.DeleteRequest?.Key)),
    );
  }

  private async image(table: string, key: Item): Promise<Item | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }),
    );
    return Item;
  }

  private forward(
    request: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    const target = new URL(this.dynamoEndpoint);
    return new Promise((resolve, reject) => {
      const outgoing = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: request.headers,
        },
        (incoming) => {
          const parts: Buffer[] = [];
          incoming.on("data", (part: Buffer) => parts.push(part));
          incoming.on("end", () =>
            resolve({
              status: incoming.statusCode ?? 500,
              headers: incoming.headers,
              body: Buffer.concat(parts),
            }),
          );
          incoming.on("error", reject);
        },
      );
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  }

  private record(
    tableName: string,
    keys: Item,
    oldImage: Item | undefined,
    newImage: Item | undefined,
  ): void {
    const table = this.tables.get(tableName);
    const mapping = this.consumed(tableName);
    if (!table || !mapping || (!oldImage && !newImage)) return;
    if (oldImage && newImage && JSON.stringify(oldImage) === JSON.stringify(newImage)) return; // no change, no record
    const view = table.streamViewType ?? "NEW_AND_OLD_IMAGES";
    const eventName = !oldImage ? "INSERT" : !newImage ? "REMOVE" : "MODIFY";
    this.sequence += 1;
    const dynamodb: Record<string, unknown> = {
      ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
      Keys: keys,
      SequenceNumber: String(this.sequence).padStart(21, "0"),
      SizeBytes: Buffer.byteLength(JSON.stringify(newImage ?? oldImage)),
      StreamViewType: view,
    };
    if (newImage && (view === "NEW_IMAGE" || view === "NEW_AND_OLD_IMAGES")) dynamodb.NewImage = newImage;
    if (oldImage && (view === "OLD_IMAGE" || view === "NEW_AND_OLD_IMAGES")) dynamodb.OldImage = oldImage;
    const records = this.pending.get(tableName) ?? [];
    records.push({
      eventID: randomUUID().replaceAll("-", ""),
      eventName,
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: this.region,
      dynamodb,
      eventSourceARN: mapping.eventSourceArn,
    });
    this.pending.set(tableName, records);
  }

  /**
   * Delivers until no consumed table has records waiting: a consumer's own writes (and writes to
   * a table already passed in this round) are delivered before the promise settles. A pass
   * delivers only what was waiting when it began, so a consumer that writes its table on every
   * record (a recursive loop, endless on AWS too) ends the round after MAX_PASSES with a warning;
   * the next write starts another.
   */
  private async deliverRound(): Promise<void> {
    for (let pass = 1; this.waiting().length > 0; pass += 1) {
      if (this.closed) return;
      if (pass > MAX_PASSES) {
        for (const table of this.waiting()) {
          if (this.looping.has(table)) continue;
          this.looping.add(table);
          const consumer = this.consumed(table)?.functionName;
          process.emitWarning(
            `local DynamoDB streams: ${consumer} keeps writing table ${table}, whose stream invokes it (a recursive loop: on AWS it runs, and bills, until stopped); delivery goes on with each new write`,
          );
        }
        return;
      }
      await this.deliverPass();
    }
  }

  /** The consumed tables with records waiting. */
  private waiting(): string[] {
    return [...this.pending]
      .filter(([table, records]) => records.length > 0 && this.consumed(table))
      .map(([table]) => table);
  }

  /** Delivers, table by table, the records waiting when the pass reaches the table. */
  private async deliverPass(): Promise<void> {
    for (const [tableName, records] of this.pending) {
      const mapping = this.consumed(tableName);
      if (!mapping) continue;
      let attempts = 0;
      let remaining = records.length;
      while (remaining > 0 && !this.closed) {
        const batch = records.slice(0, Math.min(mapping.batchSize, remaining));
        const result = await this.invoke(mapping.functionName, { Records: batch });
        let firstFailed = -1;
        if (result.error || result.payload === undefined) firstFailed = 0;
        else if (mapping.reportBatchItemFailures) {
          const failures =
            (JSON.parse(result.payload) as { batchItemFailures?: { itemIdentifier?: string }[] } | null)
              ?.batchItemFailures ?? [];
          const failed = new Set(failures.map((f) => String(f.itemIdentifier)));
          firstFailed = batch.findIndex((r) => failed.has(String(r.dynamodb.SequenceNumber)));
        }
        if (firstFailed < 0) {
          records.splice(0, batch.length);
          remaining -= batch.length;
          attempts = 0;
          continue;
        }
        records.splice(0, firstFailed); // the records before the first failure are done
        remaining -= firstFailed;
        attempts += 1;
        if (attempts > mapping.maximumRetryAttempts) {
          const failedBatch = records.splice(0, batch.length - firstFailed);
          remaining -= failedBatch.length;
          this.sendToOnFailure(mapping, failedBatch, result);
          attempts = 0;
        }
      }
    }
  }

  /** What Lambda sends an on-failure destination for a stream batch it gives up on. */
  private sendToOnFailure(mapping: LocalStreamMapping, records: StreamRecord[], result: InvokeResult): void {
    if (!mapping.onFailureQueueName || records.length === 0) return;
    const message = {
      requestContext: {
        requestId: result.requestId,
        functionArn: mapping.functionName,
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: mapping.maximumRetryAttempts + 1,
      },
      responseContext: {
        statusCode: 200,
        executedVersion: "$LATEST",
        functionError: result.error?.errorType,
      },
      version: "1.0",
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: "shardId-local",
        startSequenceNumber: records[0].dynamodb.SequenceNumber,
        endSequenceNumber: records.at(-1)?.dynamodb.SequenceNumber,
        batchSize: records.length,
        streamArn: mapping.eventSourceArn,
      },
    };
    this.queues.send(mapping.onFailureQueueName, JSON.stringify(message));
  }
}
