import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { type JobManager, JobNotFoundError } from "../jobs/manager";
import type { JobStoreApi } from "../jobs/store-api";
import { FINISHED_STATES, type JobEvent, type JobState } from "../jobs/types";
import { routeSchema } from "./openapi";

/** Seconds between SSE comments that keep idle proxies from closing the stream. */
const HEARTBEAT_MS = 15_000;

export const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  Connection: "keep-alive",
  "X-Content-Type-Options": "nosniff",
  "X-Accel-Buffering": "no",
} as const;

export function isTerminal(event: JobEvent): boolean {
  return event.type === "job" && FINISHED_STATES.has((event.data as { state: JobState }).state);
}

/** Each live event is serialized once, whatever the number of streams that write it. */
const serialized = new WeakMap<JobEvent, string>();

function message(event: JobEvent): string {
  let text = serialized.get(event);
  if (text === undefined) {
    text = `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
    serialized.set(event, text);
  }
  return text;
}

/**
 * One client's event stream, written as fast as the client reads it and no faster.
 *
 * The replay (events the client has not seen, possibly a long job's thousands) is written with the
 * socket's own backpressure: a piece, then the next once the socket has drained, so that a reader
 * of a large job never holds it all in a buffer. Live events are written as they are committed
 * (after the replay). A client that stops reading lets them pile up in its socket's buffer; once
 * that holds more than `bufferBytes` the stream is closed, and the client reconnects with
 * `Last-Event-ID` and gets the rest as a replay.
 */
export class EventStream {
  /** The part of the replay not yet handed to the socket. */
  private replay: JobEvent[] = [];
  /** Live events that arrived during the replay, serialized, and their size. */
  private live: { event: JobEvent; text: string }[] = [];
  private liveBytes = 0;
  private endAfterReplay = false;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly raw: ServerResponse,
    private readonly bufferBytes: number,
    /** Called once when the stream ends, whoever ends it. */
    private readonly onClose: (reason: "finished" | "dropped" | "client") => void,
  ) {
    raw.writeHead(200, SSE_HEADERS);
    raw.write("retry: 2000\n\n");
    this.heartbeat = setInterval(() => this.write(": keep-alive\n\n"), HEARTBEAT_MS);
    this.heartbeat.unref();
    raw.on("close", () => this.close("client"));
    raw.on("drain", () => this.pump());
  }

  get ended(): boolean {
    return this.closed;
  }

  /** Writes the events the client missed, as fast as it reads them; `thenEnd`: the job has finished. */
  startReplay(events: JobEvent[], thenEnd: boolean): void {
    this.replay = events;
    this.endAfterReplay = thenEnd;
    this.pump();
  }

  /** Writes live events (after the replay). */
  send(events: JobEvent[]): void {
    for (const event of events) {
      if (this.closed) return;
      if (this.replay.length > 0) {
        const text = message(event);
        this.live.push({ event, text });
        this.liveBytes += text.length;
        if (this.raw.writableLength + this.liveBytes > this.bufferBytes) this.drop();
        continue;
      }
      this.write(message(event));
      if (isTerminal(event)) this.end();
    }
  }

  /** Ends the stream (the job ended, or the server is closing). */
  end(): void {
    if (this.closed) return;
    this.raw.end();
    this.close("finished");
  }

  private pump(): void {
    while (!this.closed && this.replay.length > 0 && !this.raw.writableNeedDrain) {
      const event = this.replay.shift()!;
      this.raw.write(message(event));
      if (isTerminal(event)) {
        this.end();
        return;
      }
    }
    if (this.closed || this.replay.length > 0) return;
    // The replay is out: the live events that came meanwhile follow it.
    const live = this.live;
    this.live = [];
    this.liveBytes = 0;
    for (const { event, text } of live) {
      this.write(text);
      if (isTerminal(event)) {
        this.end();
        return;
      }
    }
    if (this.endAfterReplay) this.end();
  }

  private write(text: string): void {
    if (this.closed) return;
    this.raw.write(text);
    if (this.raw.writableLength > this.bufferBytes) this.drop();
  }

  /** The client does not read: close its connection and free what it held. */
  private drop(): void {
    this.replay = [];
    this.live = [];
    this.liveBytes = 0;
    this.close("dropped");
    this.raw.destroy();
  }

  private close(reason: "finished" | "dropped" | "client"): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.onClose(reason);
  }
}

interface EventRoutes {
  manager: JobManager;
  store: JobStoreApi;
  /** The open streams (ended when the server closes; counted in /metrics). */
  streams: Set<EventStream>;
  bufferBytes: number;
}

type EventsRequest = { Params: { id: string }; Headers: { "last-event-id"?: string } };

/** `GET /jobs/:id/events` (the stream) and `HEAD /jobs/:id/events` (its headers, at once). */
export function registerEventRoutes(app: FastifyInstance, routes: EventRoutes): void {
  const { manager, store, streams, bufferBytes } = routes;
  const schema = routeSchema("/jobs/{id}/events", "get");

  // A probe of the stream (a proxy's or a monitor's) is answered at once and holds nothing: no
  // commit to wait for, no subscription, not counted as a stream.
  app.head<EventsRequest>("/jobs/:id/events", { schema }, async (request, reply) => {
    const { id } = request.params;
    const job = await manager.find(id);
    if (!job) throw new JobNotFoundError(id);
    const lastId = Number(request.headers["last-event-id"] || 0);
    if (FINISHED_STATES.has(job.state) && (await manager.eventsAfter(id, lastId)).length === 0) {
      return reply.code(204).send();
    }
    return reply.code(200).headers(SSE_HEADERS).send();
  });

  app.get<EventsRequest>("/jobs/:id/events", { schema, exposeHeadRoute: false }, async (request, reply) => {
    const { id } = request.params;
    const lastId = Number(request.headers["last-event-id"] || 0);
    // Only committed events go out, replayed or live: an id a client has seen is never given to
    // another event after a crash (the job's next event after a restart is its interruption).
    await store.whenCommitted();
    const job = await manager.find(id);
    if (!job) throw new JobNotFoundError(id);
    const finished = FINISHED_STATES.has(job.state);
    // Subscribed before the replay is read (the job may run on another replica, its events read
    // from the database): an event committed meanwhile is in one or the other, or in both and
    // then sent once (by seq).
    let stream: EventStream | undefined;
    let heard: JobEvent[] = [];
    let sentUpTo = lastId;
    const forward = (events: JobEvent[]) => {
      const fresh = events.filter((event) => event.seq > sentUpTo);
      if (fresh.length === 0) return;
      sentUpTo = fresh[fresh.length - 1].seq;
      stream?.send(fresh);
    };
    let unsubscribe = () => {};
    if (!finished) {
      // A turn's events are written once the store has committed them (at the end of the turn).
      let pending: JobEvent[] = [];
      unsubscribe = manager.subscribe(id, (event) => {
        if (pending.length === 0) {
          void store.whenCommitted().then(() => {
            const events = pending;
            pending = [];
            if (stream) forward(events);
            else heard.push(...events);
          });
        }
        pending.push(event);
      });
    }
    let replay: JobEvent[];
    try {
      replay = await manager.eventsAfter(id, lastId);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    if (replay.length > 0) sentUpTo = replay[replay.length - 1].seq;
    if (finished && replay.length === 0) return reply.code(204).send();
    if (replay.some(isTerminal)) unsubscribe();

    reply.hijack();
    // The client may have gone while the handler waited for the commit: its `close` has fired.
    if (reply.raw.destroyed) {
      unsubscribe();
      return reply;
    }
    const opened = new EventStream(reply.raw, bufferBytes, () => {
      unsubscribe();
      streams.delete(opened);
    });
    stream = opened;
    streams.add(opened);
    opened.startReplay(replay, finished);
    forward(heard);
    heard = [];
    return reply;
  });
}
