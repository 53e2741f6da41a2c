import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { LeaderElector, type Lease } from "../../src/kube/leaderelection.ts";
import type { KubeClient, ResourceType } from "../../src/kube/client.ts";
import { withKr } from "./testcrd.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");
const LEASES: ResourceType = { group: "coordination.k8s.io", version: "v1", plural: "leases" };

/** Two candidates on one Lease; tracks who leads and whether both ever led at once. */
function candidates(client: KubeClient, namespace: string, releaseOnCancel: boolean) {
  const leading = new Set<string>();
  let overlap = false;
  const history: string[] = [];
  const make = (identity: string) => {
    const ctl = new AbortController();
    const el = new LeaderElector(client, {
      namespace,
      name: "kr-test-lock",
      identity,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 500,
      releaseOnCancel,
      onStartedLeading: () => {
        if (leading.size > 0) overlap = true;
        leading.add(identity);
        history.push(`start:${identity}`);
      },
      onStoppedLeading: () => {
        leading.delete(identity);
        history.push(`stop:${identity}`);
      },
    });
    const done = el.run(ctl.signal);
    return { identity, el, ctl, done };
  };
  return { a: make("cand-a"), b: make("cand-b"), leading, history, overlap: () => overlap };
}

Deno.test({
  name: "leader election: one of two candidates leads; the other takes over at once after a release",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const c = candidates(client, namespace, true);
      try {
        await until("a leader", () => c.leading.size === 1, 10_000);
        // Stay a few renew periods: still exactly one leader, and the Lease names it.
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal(c.leading.size, 1);
        const [leader, standby] = c.a.el.isLeader() ? [c.a, c.b] : [c.b, c.a];
        assert.equal(standby.el.isLeader(), false);
        assert.equal(standby.el.leader, leader.identity, "standby observed the leader");
        const lease = await client.get<Lease>(LEASES, namespace, "kr-test-lock");
        assert.equal(lease.spec?.holderIdentity, leader.identity);
        assert.equal(lease.spec?.leaseDurationSeconds, 3);
        assert.match(lease.spec?.renewTime ?? "", /\.\d{6}Z$/);

        leader.ctl.abort();
        await leader.done;
        const released = await client.get<Lease>(LEASES, namespace, "kr-test-lock");
        assert.notEqual(released.spec?.holderIdentity, leader.identity, "released on shutdown, not left to expire");
        await until("takeover after release", () => standby.el.isLeader(), 10_000);
        assert.equal(c.overlap(), false, `never two leaders: ${c.history}`);
        const after = await client.get<Lease>(LEASES, namespace, "kr-test-lock");
        assert.equal(after.spec?.holderIdentity, standby.identity);
        assert.equal(after.spec?.leaseTransitions, 1);
      } finally {
        c.a.ctl.abort();
        c.b.ctl.abort();
        await Promise.all([c.a.done, c.b.done]);
      }
    }),
});

Deno.test({
  name: "leader election: when the leader dies without releasing, the standby takes over after the lease expires",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const c = candidates(client, namespace, false);
      try {
        await until("a leader", () => c.leading.size === 1, 10_000);
        const [leader, standby] = c.a.el.isLeader() ? [c.a, c.b] : [c.b, c.a];
        leader.ctl.abort(); // stops renewing, does not release: like a crashed process
        await leader.done;
        const orphaned = await client.get<Lease>(LEASES, namespace, "kr-test-lock");
        assert.equal(orphaned.spec?.holderIdentity, leader.identity, "not released");
        await until("takeover after expiry", () => standby.el.isLeader(), 15_000);
        const taken = await client.get<Lease>(LEASES, namespace, "kr-test-lock");
        assert.equal(taken.spec?.holderIdentity, standby.identity);
        const gapMs = Date.parse(taken.spec!.acquireTime!) - Date.parse(orphaned.spec!.renewTime!);
        assert.ok(gapMs >= 3000, `acquired ${gapMs} ms after the last renew: not before the 3 s lease expired`);
        assert.equal(c.overlap(), false, `never two leaders: ${c.history}`);
      } finally {
        c.a.ctl.abort();
        c.b.ctl.abort();
        await Promise.all([c.a.done, c.b.done]);
      }
    }),
});
