/**
 * Logging for all three programs: klog-like verbosity (`-v N`: `log.v(4).info(...)` prints only at -v 4 or more),
 * text or JSON lines on stderr, and a redaction safety net for fields that could carry key material. The primary
 * protection is structural: key values are never plain strings in this code base (see src/wireguard), so they
 * cannot be interpolated by accident.
 */
import {
  configure,
  getLogger,
  getStreamSink,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger as LogtapeLogger,
  type LogRecord,
  reset,
  type TextFormatter,
} from "@logtape/logtape";
import { redactByField } from "@logtape/redaction";

/** Output format of log lines. */
export type LogFormat = "text" | "json";

/** Field names whose values are replaced by "[REDACTED]" wherever they appear in log properties. */
export const REDACTED_FIELDS: readonly RegExp[] = [
  /private.?key/i,
  /pre.?shared/i,
  /^psk$/i,
  /secret.?data/i,
  /token/i,
];

/** A category logger with klog-style verbosity gating. */
export interface Logger {
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
  error(message: string, props?: Record<string, unknown>): void;
  /** Returns a logger that emits (at info level) only when the configured verbosity is at least `level`. */
  v(level: number): Pick<Logger, "info">;
}

let verbosity = 0;

/** Configures the process-wide sinks. Call once at program start; later calls replace the configuration. */
export async function setupLogging(opts: { verbosity: number; format: LogFormat; program: string }): Promise<void> {
  verbosity = opts.verbosity;
  await reset();
  const formatter = opts.format === "json" ? jsonLinesFormatter : keyValueFormatter();
  await configure({
    sinks: {
      stderr: redactByField(getStreamSink(Deno.stderr.writable, { formatter }), {
        fieldPatterns: [...REDACTED_FIELDS],
        action: () => "[REDACTED]",
      }),
    },
    loggers: [
      { category: ["dn42op"], lowestLevel: "info", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
    reset: true,
  });
  getLogger(["dn42op", opts.program]).info("logging configured", { verbosity: opts.verbosity, format: opts.format });
}

/** Text lines like klog's: the message followed by its properties as key=value pairs. */
function keyValueFormatter(): TextFormatter {
  const base = getTextFormatter({ timestamp: "date-time-tz" });
  return (record: LogRecord) => {
    const pairs = Object.entries(record.properties).map(([k, v]) => ` ${k}=${renderValue(v)}`).join("");
    return base(record).replace(/\n$/, "") + pairs + "\n";
  };
}

function renderValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** Flushes and removes the sinks (call before exit so buffered lines are written). */
export async function shutdownLogging(): Promise<void> {
  await reset();
}

const noop = { info: () => {} };

function wrap(l: LogtapeLogger): Logger {
  return {
    info: (m, p) => l.info(m, p ?? {}),
    warn: (m, p) => l.warn(m, p ?? {}),
    error: (m, p) => l.error(m, p ?? {}),
    v: (level) => level <= verbosity ? { info: (m, p) => l.info(m, { ...(p ?? {}), v: level }) } : noop,
  };
}

/** Returns the logger for a category path, e.g. `logger("wg-controller", "reconcile")`. */
export function logger(...category: string[]): Logger {
  return wrap(getLogger(["dn42op", ...category]));
}
