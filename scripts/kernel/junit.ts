/** Counting a Deno JUnit report (`deno test --junit-path`). */
import { XMLParser } from "fast-xml-parser";

/** Counts of a test run. */
export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
}

interface TestCase {
  "@_name": string;
  failure?: unknown;
  error?: unknown;
  skipped?: unknown;
}

/**
 * Counts the tests of a Deno JUnit report the way `deno test` summarises them: test steps (reported by Deno as test
 * cases named `parent > step`) are not counted, their failures show in their parent's. Throws on a document that is
 * not a JUnit report.
 */
export function countJunit(xml: string): TestCounts {
  const doc = new XMLParser({
    ignoreAttributes: false,
    isArray: (name) => name === "testsuite" || name === "testcase",
  }).parse(xml) as { testsuites?: { testsuite?: { testcase?: TestCase[] }[] } | "" };
  if (doc.testsuites === undefined) throw new Error("kernel tier: the JUnit report has no <testsuites>");
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const suite of (doc.testsuites || {}).testsuite ?? []) {
    const names = new Set<string>();
    for (const tc of suite.testcase ?? []) {
      const name = tc["@_name"];
      const isStep = [...names].some((parent) => name.startsWith(`${parent} > `));
      names.add(name);
      if (isStep) continue;
      if (tc.failure !== undefined || tc.error !== undefined) counts.failed++;
      else if (tc.skipped !== undefined) counts.skipped++;
      else counts.passed++;
    }
  }
  return counts;
}
