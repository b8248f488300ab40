/** One Server-Sent Events message as the service sends it. */
export interface SseMessage {
  id?: number;
  event?: string;
  data: unknown;
}

export interface SseRead {
  status: number;
  contentType: string | null;
  /** The `retry:` value the stream started with. */
  retry?: number;
  messages: SseMessage[];
}

/**
 * Reads a job's event stream to its end (the service ends it after the job's terminal event), or
 * until `until` returns true for a message (then the connection is aborted).
 */
export async function readEvents(
  url: string,
  token: string,
  options: { lastEventId?: number; until?: (message: SseMessage) => boolean } = {},
): Promise<SseRead> {
  const controller = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (options.lastEventId !== undefined) headers["last-event-id"] = String(options.lastEventId);
  const response = await fetch(url, { headers, signal: controller.signal });
  const read: SseRead = {
    status: response.status,
    contentType: response.headers.get("content-type"),
    messages: [],
  };
  if (!response.body || response.status !== 200) {
    await response.arrayBuffer().catch(() => undefined);
    return read;
  }
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        const message: Partial<SseMessage> & { dataLines: string[] } = { dataLines: [] };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") message.id = Number(value);
          else if (field === "event") message.event = value;
          else if (field === "data") message.dataLines.push(value);
          else if (field === "retry") read.retry = Number(value);
        }
        if (message.dataLines.length === 0) continue;
        const parsed: SseMessage = {
          id: message.id,
          event: message.event,
          data: JSON.parse(message.dataLines.join("\n")),
        };
        read.messages.push(parsed);
        if (options.until?.(parsed)) {
          controller.abort();
          return read;
        }
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return read;
}
