/** Reading a Deno JUnit report (`deno test --junit-path`). */
import { XMLParser } from "fast-xml-parser";

/** One test of a report. */
export interface JunitCase {
  /** Test file as Deno names it (the suite name, e.g. `./tests/kernel/smoke.kernel_test.ts`). */
  file: string;
  name: string;
  status: "passed" | "failed" | "skipped";
  /** The failure message, for failed tests. */
  detail?: string;
}

/** Counts of a test run. */
export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
}

type Problem = string | { "#text"?: string; "@_message"?: string };

interface RawCase {
  "@_name": string;
  failure?: Problem;
  error?: Problem;
  skipped?: unknown;
}

function message(p: Problem): string {
  return typeof p === "string" ? p : p["@_message"] ?? p["#text"] ?? "";
}

/**
 * The tests of a Deno JUnit report, counted the way `deno test` summarises them: test steps (which Deno reports as
 * test cases named `parent > step`) are left out; their failures show in their parent's. Throws on a document that
 * is not a JUnit report.
 */
export function junitCases(xml: string): JunitCase[] {
  const doc = new XMLParser({
    ignoreAttributes: false,
    isArray: (name) => name === "testsuite" || name === "testcase",
  }).parse(xml) as { testsuites?: { testsuite?: { "@_name": string; testcase?: RawCase[] }[] } | "" };
  if (doc.testsuites === undefined) throw new Error("kernel tier: the JUnit report has no <testsuites>");
  const cases: JunitCase[] = [];
  for (const suite of (doc.testsuites || {}).testsuite ?? []) {
    const names: string[] = [];
    for (const tc of suite.testcase ?? []) {
      const name = tc["@_name"];
      const isStep = names.some((parent) => name.startsWith(`${parent} > `));
      names.push(name);
      if (isStep) continue;
      const problem = tc.failure ?? tc.error;
      const file = suite["@_name"];
      if (problem !== undefined) cases.push({ file, name, status: "failed", detail: message(problem) });
      else cases.push({ file, name, status: tc.skipped !== undefined ? "skipped" : "passed" });
    }
  }
  return cases;
}

/** How many tests passed, failed and were skipped. */
export function countCases(cases: JunitCase[]): TestCounts {
  const n = (s: JunitCase["status"]) => cases.filter((c) => c.status === s).length;
  return { passed: n("passed"), failed: n("failed"), skipped: n("skipped") };
}
