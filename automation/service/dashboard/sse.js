// A Server-Sent Events parser for the job event stream (read with fetch(), as EventSource cannot
// send an Authorization header). Pure: no DOM.

/**
 * Incremental Server-Sent Events parser (the WHATWG algorithm): feed it decoded text in chunks of
 * any size; it returns the messages completed so far. A message is `{ id, event, data }`, where
 * `id` is the last event id seen (ids persist across messages) and `event` defaults to "message".
 */
export class SseParser {
  /** @param {string | undefined} lastEventId the id to start from (after a reconnection) */
  constructor(lastEventId) {
    this.lastEventId = lastEventId;
    /** The last `retry:` value, in milliseconds. @type {number | undefined} */
    this.retry = undefined;
    this.buffer = "";
    this.eventType = "";
    /** @type {string[]} */
    this.dataLines = [];
  }

  /**
   * @param {string} chunk
   * @returns {{ id: string | undefined, event: string, data: string }[]}
   */
  push(chunk) {
    const text = this.buffer + chunk;
    const messages = [];
    const lineEnd = /\r\n|\r|\n/g;
    let position = 0;
    for (let match = lineEnd.exec(text); match; match = lineEnd.exec(text)) {
      // A lone "\r" at the end may be the first half of a "\r\n" split across chunks.
      if (match[0] === "\r" && match.index === text.length - 1) break;
      this.line(text.slice(position, match.index), messages);
      position = lineEnd.lastIndex;
    }
    this.buffer = text.slice(position);
    return messages;
  }

  /** Call at the end of the stream: a last lone "\r" ends its line after all. */
  end() {
    return this.buffer.endsWith("\r") ? this.push("\n") : [];
  }

  /** @param {string} line @param {{ id: string | undefined, event: string, data: string }[]} messages */
  line(line, messages) {
    if (line === "") {
      if (this.dataLines.length > 0) {
        messages.push({
          id: this.lastEventId,
          event: this.eventType || "message",
          data: this.dataLines.join("\n"),
        });
      }
      this.dataLines = [];
      this.eventType = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventType = value;
    else if (field === "data") this.dataLines.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}
