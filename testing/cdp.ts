/**
 * A small Chrome DevTools Protocol client over the WebSocket Deno has built in: enough to open a
 * page, evaluate expressions in it, read its console and take a screenshot. (Playwright's own
 * launch adds flags silently; driving Chromium directly shows which flags matter.)
 */

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  method: string;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string; data?: string };
  sessionId?: string;
}

type EventHandler = (params: Record<string, unknown>, sessionId?: string) => void;

/** One WebSocket to the browser; page sessions are multiplexed over it ("flatten" mode). */
export class CdpConnection {
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #handlers = new Map<string, EventHandler[]>();
  #closed: string | null = null;

  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = (event) => this.#receive(JSON.parse(String(event.data)) as CdpMessage);
    socket.onclose = () => this.#fail("the DevTools connection closed");
    socket.onerror = () => this.#fail("the DevTools connection failed");
  }

  static connect(url: string): Promise<CdpConnection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve(new CdpConnection(socket));
      socket.onerror = () => reject(new Error(`cannot connect to DevTools at ${url}`));
    });
  }

  #fail(reason: string): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: ${reason}`));
    this.#pending.clear();
  }

  #receive(message: CdpMessage): void {
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        const detail = message.error.data ? ` (${message.error.data})` : "";
        pending.reject(new Error(`${pending.method}: ${message.error.message}${detail}`));
      } else {
        pending.resolve(message.result ?? {});
      }
      return;
    }
    for (const handler of this.#handlers.get(message.method ?? "") ?? []) {
      handler(message.params ?? {}, message.sessionId);
    }
  }

  /** Sends a command (to a page session when `sessionId` is given) and waits for its result. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new Error(`${method}: ${this.#closed}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  on(method: string, handler: EventHandler): void {
    const list = this.#handlers.get(method) ?? [];
    list.push(handler);
    this.#handlers.set(method, list);
  }

  close(): void {
    this.#fail("closed");
    this.socket.close();
  }
}

/** What a page printed or threw, kept for failure messages. */
export interface ConsoleLine {
  type: string;
  text: string;
}

/** One tab, driven through its own session on the browser connection. */
export class CdpPage {
  readonly console: ConsoleLine[] = [];

  private constructor(readonly connection: CdpConnection, readonly sessionId: string) {}

  /** Opens `url` in a new tab and waits for its load event. */
  static async open(connection: CdpConnection, url: string): Promise<CdpPage> {
    const { targetId } = await connection.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await connection.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new CdpPage(connection, sessionId as string);
    connection.on("Runtime.consoleAPICalled", (params, session) => {
      if (session !== page.sessionId) return;
      const args = (params.args as { value?: unknown; description?: string }[]) ?? [];
      page.console.push({
        type: String(params.type),
        text: args.map((a) => a.value ?? a.description ?? "").join(" "),
      });
    });
    connection.on("Runtime.exceptionThrown", (params, session) => {
      if (session !== page.sessionId) return;
      const details = params.exceptionDetails as {
        text?: string;
        exception?: { description?: string };
      };
      page.console.push({
        type: "exception",
        text: details.exception?.description ?? details.text ?? "exception",
      });
    });
    await page.send("Runtime.enable");
    await page.send("Page.enable");
    await page.navigate(url);
    return page;
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.connection.send(method, params, this.sessionId);
  }

  /** Navigates and waits for the load event. */
  async navigate(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => {
      this.connection.on("Page.loadEventFired", (_params, session) => {
        if (session === this.sessionId) resolve();
      });
    });
    const result = await this.send("Page.navigate", { url });
    if (result.errorText) throw new Error(`cannot open ${url}: ${result.errorText}`);
    await loaded;
  }

  /**
   * Evaluates `expression` in the page (awaiting a returned promise) and returns its value as
   * JSON; an exception in the page becomes an Error carrying its message and the page console.
   */
  async evaluate<T>(expression: string, timeoutMs = 600_000): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`page did not answer within ${timeoutMs / 1000} s: ${expression}`)),
        timeoutMs,
      );
    });
    try {
      const result = await Promise.race([
        this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }),
        timeout,
      ]);
      const thrown = result.exceptionDetails as
        | { text?: string; exception?: { description?: string } }
        | undefined;
      if (thrown) {
        const message = thrown.exception?.description ?? thrown.text ?? "exception";
        throw new Error(`in the page: ${message}\npage console:\n${this.consoleText()}`);
      }
      return (result.result as { value?: T }).value as T;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The page as PNG bytes (the full page, not only the viewport). */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  consoleText(): string {
    return this.console.map((l) => `  [${l.type}] ${l.text}`).join("\n") || "  (empty)";
  }
}
